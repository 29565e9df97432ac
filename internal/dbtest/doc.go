// Package dbtest starts real PostgreSQL and MariaDB servers for tests, each in
// its own temporary directory on a free 127.0.0.1 port, and hands out DSNs for
// fresh, empty databases on them. No system service is used or needed.
//
// Shared servers, started lazily once per test process:
//
//	dsn := dbtest.Postgres(t) // postgres://gb:PW@127.0.0.1:PORT/DB?sslmode=disable
//	dsn := dbtest.MariaDB(t)  // mysql://gb:PW@127.0.0.1:PORT/DB
//
// Each call creates a new database with a unique name; the user has a password
// (as users' DSNs do) and full rights on the server. A test that uses them
// should stop the servers when the package's tests end:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// Private servers, for tests that stop the database mid-run and bring it back
// on the same port with the same data (Stop, then Start):
//
//	srv := dbtest.NewPostgresServer(t) // or NewMariaDBServer; removed at t's cleanup
//	dsn := srv.DSN(t)
//	srv.Stop()
//	srv.Start()
//
// Programs that are not tests (the benchmark) use the same servers without a
// testing.TB; the caller closes them:
//
//	srv, err := dbtest.StartPostgres() // or StartMariaDB; IsMissing(err) without the binaries
//	dsn, err := srv.NewDatabase("label")
//	defer srv.Close()
//
// When the server binaries are missing, the calls skip the test, naming the
// Debian package to install; with GEMINI_BALANCE_REQUIRE_DB=1 they fail it
// instead. PostgreSQL is found under /usr/lib/postgresql/*/bin (the newest) or
// on PATH; MariaDB as mariadbd and mariadb-install-db on PATH or in /usr/sbin.
// Run as root, PostgreSQL runs as the postgres OS user and MariaDB with
// --user=root.
//
// Servers are tuned for speed, not durability (no fsync), log to files in
// their directory (a failure to start quotes the log's tail), and get a
// parent-death signal, so a test process that crashes does not leave them
// running; directories left by crashed processes are swept on the next start.
//
// MySQLDriverDSN turns a mysql:// URL into the go-sql-driver/mysql form.
package dbtest
