// Package metrics is the module's Prometheus metrics. The collectors are
// package-level, so counts survive config reloads the way pools do; each
// configuration registers them in the registry Caddy gives it, so they
// appear on the admin endpoint's /metrics beside Caddy's own.
//
// Names and labels are part of the interface (README, "Metrics"). Labels
// never hold a key, a client token or a model name: pool names come from the
// configuration, routes and outcomes are fixed sets, codes are HTTP statuses.
package metrics

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "gemini_balance"

// Outcomes of an upstream attempt (the outcome label).
const (
	Success     = "success"
	ClientError = "client_error"
	Cooldown    = "cooldown"
	Invalid     = "invalid"
	Transient   = "transient"
	Timeout     = "timeout"
	Connection  = "connection"
)

var outcomes = []string{Success, ClientError, Cooldown, Invalid, Transient, Timeout, Connection}

// Route families (the route label).
const (
	RouteNative      = "native"
	RouteOpenAI      = "openai"
	RoutePassthrough = "passthrough"
	RouteFiles       = "files"
	RouteAdmin       = "admin"
	RouteHealth      = "health"
	RouteImages      = "images" // the image store's links
	RouteAnthropic   = "anthropic"
)

// Upstream latencies run from tens of milliseconds (a first byte) to
// minutes (a long answer).
var latencyBuckets = []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_total",
		Help: "Client requests answered by the module, by pool, route family, HTTP status and the pool that served them (a fallback pool, or the pool itself).",
	}, []string{"pool", "route", "code", "served_by"})
	attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_attempts_total",
		Help: "Upstream attempts by pool and outcome: success, client_error, cooldown (429), invalid (key failures), transient (5xx, empty or untranslatable answers), timeout, connection.",
	}, []string{"pool", "outcome"})
	duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_duration_seconds",
		Help:    "Time from sending an upstream attempt to the end of its answer (the whole stream for streams).",
		Buckets: latencyBuckets,
	}, []string{"pool"})
	firstByte = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_first_byte_seconds",
		Help:    "Time from sending a successful upstream attempt to its answer's headers (and, for streams, its first byte).",
		Buckets: latencyBuckets,
	}, []string{"pool"})
	retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "retries_total",
		Help: "Upstream attempts after a request's first, on other keys.",
	}, []string{"pool"})

	keysDesc = prometheus.NewDesc(namespace+"_keys", "Keys by pool and state: active, cooling (resting for at least one model) or invalid.",
		[]string{"pool", "state"}, nil)
	queueDesc = prometheus.NewDesc(namespace+"_log_queue_rows", "Log rows accepted and not yet written to the database.",
		[]string{"pool"}, nil)
	droppedDesc = prometheus.NewDesc(namespace+"_log_rows_dropped_total", "Log rows dropped because the write queue was full.",
		[]string{"pool"}, nil)
	dbErrorsDesc = prometheus.NewDesc(namespace+"_database_errors_total", "Failed database operations (log batches, key state, settings, resources, events).",
		[]string{"pool"}, nil)
)

// PoolState is what the gauges read from a live pool at scrape time.
type PoolState struct {
	Name                     string
	Active, Cooling, Invalid int
	LogQueue, LogDropped     int64
	DatabaseErrors           int64
}

// live reports the pools' state at each scrape.
type live struct{}

var source atomic.Pointer[func() []PoolState]

// SetSource sets the function that lists the live pools at scrape time.
func SetSource(f func() []PoolState) { source.Store(&f) }

func (live) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysDesc
	ch <- queueDesc
	ch <- droppedDesc
	ch <- dbErrorsDesc
}

func (live) Collect(ch chan<- prometheus.Metric) {
	f := source.Load()
	if f == nil {
		return
	}
	seen := map[string]bool{}
	for _, p := range (*f)() {
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(p.Active), p.Name, "active")
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(p.Cooling), p.Name, "cooling")
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(p.Invalid), p.Name, "invalid")
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(p.LogQueue), p.Name)
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(p.LogDropped), p.Name)
		ch <- prometheus.MustNewConstMetric(dbErrorsDesc, prometheus.CounterValue, float64(p.DatabaseErrors), p.Name)
	}
}

var collectors = []prometheus.Collector{requests, attempts, duration, firstByte, retries, live{}}

// Register adds the module's collectors to reg (Caddy's registry of the
// configuration being loaded); registering them again is not an error.
func Register(reg prometheus.Registerer) error {
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// Pool is one pool's hot-path metrics, with the labels resolved once.
type Pool struct {
	name      string
	attempts  [7]prometheus.Counter // by outcomeIndex
	duration  prometheus.Observer
	firstByte prometheus.Observer
	retries   prometheus.Counter
	requests  sync.Map // requestKey -> prometheus.Counter
}

var outcomeIndex = map[string]int{Success: 0, ClientError: 1, Cooldown: 2, Invalid: 3, Transient: 4, Timeout: 5, Connection: 6}

var pools sync.Map // name -> *Pool

// ForPool returns the metrics of the pool named name.
func ForPool(name string) *Pool {
	if p, ok := pools.Load(name); ok {
		return p.(*Pool)
	}
	p := &Pool{name: name, duration: duration.WithLabelValues(name), firstByte: firstByte.WithLabelValues(name),
		retries: retries.WithLabelValues(name)}
	for _, o := range outcomes {
		p.attempts[outcomeIndex[o]] = attempts.WithLabelValues(name, o)
	}
	v, _ := pools.LoadOrStore(name, p)
	return v.(*Pool)
}

// Attempt counts one upstream attempt with its outcome; a retry (any
// attempt after the first) is counted too. An unknown outcome counts as
// transient.
func (p *Pool) Attempt(outcome string, attempt int) {
	i, ok := outcomeIndex[outcome]
	if !ok {
		i = outcomeIndex[Transient]
	}
	p.attempts[i].Inc()
	if attempt > 1 {
		p.retries.Inc()
	}
}

// Duration observes an attempt's length, from sending to the end of its answer.
func (p *Pool) Duration(d time.Duration) { p.duration.Observe(d.Seconds()) }

// FirstByte observes a successful attempt's time to its answer.
func (p *Pool) FirstByte(d time.Duration) { p.firstByte.Observe(d.Seconds()) }

type requestKey struct {
	route    string
	code     int
	servedBy string
}

// Request counts a client request the pool answered with code, served by
// servedBy ("" for the pool itself, or when no pool served it).
func (p *Pool) Request(route string, code int, servedBy string) {
	if servedBy == "" {
		servedBy = p.name
	}
	k := requestKey{route, code, servedBy}
	if c, ok := p.requests.Load(k); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := requests.WithLabelValues(p.name, route, strconv.Itoa(code), servedBy)
	p.requests.Store(k, c)
	c.Inc()
}
