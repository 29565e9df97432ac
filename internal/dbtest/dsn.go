package dbtest

import (
	"fmt"
	"net/url"

	"github.com/go-sql-driver/mysql"
)

// MySQLDriverDSN converts mysql://user:pass@host:port/db?param=value into the
// DSN go-sql-driver/mysql takes (user:pass@tcp(host:port)/db?param=value).
// Query parameters are passed through as driver parameters. Errors never
// include the password.
func MySQLDriverDSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's errors quote the input, password included.
		return "", fmt.Errorf("dbtest: invalid mysql URL")
	}
	if u.Scheme != "mysql" {
		return "", fmt.Errorf("dbtest: URL scheme %q, want mysql", u.Scheme)
	}
	// Parse the parameters with the driver's own rules (it knows which are
	// its options and which are session variables).
	c, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("dbtest: mysql URL parameters: %v", err)
	}
	c.Net = "tcp"
	c.Addr = u.Host
	if u.Port() == "" && u.Host != "" {
		c.Addr = u.Host + ":3306"
	}
	if u.User != nil {
		c.User = u.User.Username()
		c.Passwd, _ = u.User.Password()
	}
	if len(u.Path) > 1 {
		c.DBName = u.Path[1:]
	}
	return c.FormatDSN(), nil
}
