package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Headers that belong to one hop, or that the edge sets itself.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Proxy-Authorization", "Proxy-Authenticate", "X-Request-Id", "X-Forwarded-For", "Content-Length",
}

var idempotent = map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "PUT": true, "DELETE": true}

type poolMetrics struct {
	dials *prometheus.CounterVec
	open  *prometheus.GaugeVec
}

func newPoolMetrics() poolMetrics {
	return poolMetrics{
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_connections_total", Help: "Connections opened to each service (keep-alive reuses them)",
		}, []string{"service"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_upstream_circuit_open", Help: "1 while a service's circuit is open (requests answered 503 at once)",
		}, []string{"service"}),
	}
}

// Breaker: closed → open after `threshold` failures in a row → after `cooldown` one trial (half open).
type Breaker struct {
	mu        sync.Mutex
	threshold int
	cooldown  time.Duration
	failures  int
	openedAt  time.Time
	open      bool
	trial     bool
	gauge     prometheus.Gauge
	name      string
}

// Wait is zero if a request may go through now, else the time until the next trial.
func (b *Breaker) Wait() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return 0
	}
	left := time.Until(b.openedAt.Add(b.cooldown))
	if left > 0 || b.trial {
		return max(left, 500*time.Millisecond)
	}
	b.trial = true // half open: this request is the trial
	return 0
}

func (b *Breaker) Success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open {
		slog.Info("circuit closed", "upstream", b.name)
	}
	b.failures, b.open, b.trial = 0, false, false
	b.gauge.Set(0)
}

func (b *Breaker) Failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.trial || b.failures >= b.threshold {
		if !b.open || b.trial {
			slog.Warn("circuit opened", "upstream", b.name, "failures", b.failures)
		}
		b.open, b.trial, b.openedAt = true, false, time.Now()
		b.gauge.Set(1)
	}
}

// dialError marks a failure to connect: the service is down (503), never a slow answer (504).
type dialError struct{ error }

func (d dialError) Unwrap() error { return d.error }

// noAnswer: the connection failed before any byte of an answer came back (safe to repeat if idempotent).
type noAnswer struct{ error }

func (n noAnswer) Unwrap() error { return n.error }

type upConn struct {
	c     net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	since time.Time
}

// Upstream is one service: where it is, a pool of keep-alive connections, its timeout and breaker.
type Upstream struct {
	name     string
	hostport string
	host     string // Host header
	prefix   string // path prefix of the service's URL, if any
	timeout  time.Duration
	connect  time.Duration
	breaker  *Breaker
	dials    prometheus.Counter
	mu       sync.Mutex
	idle     []*upConn
	maxIdle  int
	idleFor  time.Duration
}

func NewUpstream(name, raw string, timeoutS float64, cfg *Config, m poolMetrics) (*Upstream, error) {
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || base.Host == "" || base.Scheme != "http" {
		return nil, fmt.Errorf("upstreams.%s.url: %q is not an http://host:port URL", name, raw)
	}
	hostport := base.Host
	if base.Port() == "" {
		hostport = net.JoinHostPort(base.Hostname(), "80")
	}
	gauge := m.open.WithLabelValues(name)
	gauge.Set(0)
	return &Upstream{
		name: name, hostport: hostport, host: base.Host, prefix: base.EscapedPath(),
		timeout: seconds(timeoutS), connect: seconds(cfg.ConnectTimeoutS),
		breaker: &Breaker{threshold: cfg.BreakerFailures, cooldown: seconds(cfg.BreakerCooldownS), gauge: gauge, name: name},
		dials:   m.dials.WithLabelValues(name),
		maxIdle: 256,
		idleFor: 4 * time.Second, // below the services' keep-alive (uvicorn: 5 s): no stale reuse
	}, nil
}

func (u *Upstream) get() (*upConn, bool, error) {
	now := time.Now()
	u.mu.Lock()
	for len(u.idle) > 0 {
		c := u.idle[len(u.idle)-1]
		u.idle = u.idle[:len(u.idle)-1]
		if now.Sub(c.since) < u.idleFor {
			u.mu.Unlock()
			return c, true, nil
		}
		_ = c.c.Close()
	}
	u.mu.Unlock()
	u.dials.Inc()
	c, err := net.DialTimeout("tcp", u.hostport, u.connect)
	if err != nil {
		return nil, false, dialError{err}
	}
	return &upConn{c: c, r: bufio.NewReaderSize(c, 32<<10), w: bufio.NewWriterSize(c, 16<<10)}, false, nil
}

func (u *Upstream) put(c *upConn) {
	c.since = time.Now()
	u.mu.Lock()
	if len(u.idle) < u.maxIdle {
		u.idle = append(u.idle, c)
		c = nil
	}
	u.mu.Unlock()
	if c != nil {
		_ = c.c.Close()
	}
}

func (u *Upstream) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.idle {
		_ = c.c.Close()
	}
	u.idle = nil
}

// Forward sends the request on (twice at most, and twice only when idempotent and unanswered) and
// streams the answer back; a service that cannot answer gets 503 or 504 problem+json.
func (u *Upstream) Forward(w *reply, r *http.Request, body []byte, rid string) {
	if wait := u.breaker.Wait(); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int64(math.Ceil(wait.Seconds()))))
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable",
			fmt.Sprintf("the %s service is failing; the gateway stops sending it requests for a moment", u.name), nil)
		return
	}
	head := u.requestHead(r, len(body), rid)
	attempts := 1
	if idempotent[r.Method] {
		attempts = 2
	}
	var (
		c    *upConn
		resp *http.Response
		err  error
	)
	for attempt := 0; attempt < attempts; attempt++ {
		c, resp, err = u.exchange(r, head, body)
		var na noAnswer
		if err == nil || !(errors.As(err, &na) || isDial(err)) {
			break
		}
	}
	if err != nil {
		u.breaker.Failure()
		slog.Warn("upstream failed", "upstream", u.name, "request_id", rid, "error", err.Error())
		if timedOut(err) {
			writeProblem(w, http.StatusGatewayTimeout, "upstream-timeout", "Gateway timeout",
				fmt.Sprintf("the %s service did not answer in time", u.name), nil)
		} else {
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service unavailable",
				fmt.Sprintf("the %s service is not answering: %s", u.name, kind(err)), nil)
		}
		return
	}
	if resp.StatusCode >= 500 {
		u.breaker.Failure()
	} else {
		u.breaker.Success()
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if k == "Vary" {
			h[k] = append(h[k], vs...) // keep the edge's Vary: Origin
		} else {
			h[k] = vs
		}
	}
	dropHopByHop(h)
	h["X-Request-Id"] = []string{rid}
	src := &readErr{r: resp.Body, conn: c.c, timeout: u.timeout}
	_ = w.stream(resp.StatusCode, resp.ContentLength, src)
	if src.err != nil {
		u.breaker.Failure()
		slog.Warn("upstream broke off its answer", "upstream", u.name, "request_id", rid, "error", src.err.Error())
	}
	if src.err == nil && !w.aborted && !resp.Close && drained(resp.Body) {
		u.put(c)
	} else {
		_ = c.c.Close()
	}
}

// exchange writes the request on a pooled (or new) connection and reads the answer's head.
func (u *Upstream) exchange(r *http.Request, head []byte, body []byte) (*upConn, *http.Response, error) {
	c, reused, err := u.get()
	if err != nil {
		return nil, nil, err
	}
	_ = c.c.SetDeadline(time.Now().Add(u.timeout))
	_, _ = c.w.Write(head)
	_, _ = c.w.Write(body)
	if err := c.w.Flush(); err != nil {
		_ = c.c.Close()
		return nil, nil, noAnswer{err}
	}
	resp, err := http.ReadResponse(c.r, r)
	if err != nil {
		_ = c.c.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (reused && !timedOut(err)) {
			return nil, nil, noAnswer{err}
		}
		return nil, nil, err
	}
	return c, resp, nil
}

// requestHead: the client's request line and headers, with the hop's own headers replaced.
func (u *Upstream) requestHead(r *http.Request, length int, rid string) []byte {
	var b bytes.Buffer
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(u.prefix)
	b.WriteString(r.RequestURI)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(u.host)
	b.WriteString("\r\n")
	h := r.Header
	dropHopByHop(h)
	h.Del("Content-Length")
	h.Del("Expect")
	h["X-Request-Id"] = []string{rid}
	h["X-Forwarded-For"] = []string{clientAddress(r)}
	if len(h["Traceparent"]) == 0 { // start a trace here, so the service and its events continue it
		h["Traceparent"] = []string{"00-" + randomHex(16) + "-" + randomHex(8) + "-01"}
	}
	_ = h.Write(&b)
	b.WriteString("Content-Length: ")
	b.WriteString(strconv.Itoa(length))
	b.WriteString("\r\n\r\n")
	return b.Bytes()
}

func dropHopByHop(h http.Header) {
	for _, c := range h["Connection"] {
		for _, name := range strings.Split(c, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		delete(h, name)
	}
}

// readErr remembers the service's side of a broken answer (a client that leaves is not the
// service's failure) and keeps the service's timeout per read.
type readErr struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
	err     error
}

func (s *readErr) Read(p []byte) (int, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(s.timeout))
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// drained: the answer was read to its end, so the connection can carry the next request.
func drained(body io.ReadCloser) bool {
	var one [1]byte
	n, err := body.Read(one[:])
	return n == 0 && errors.Is(err, io.EOF)
}

func isDial(err error) bool {
	var d dialError
	return errors.As(err, &d)
}

func timedOut(err error) bool {
	if isDial(err) {
		return false // could not connect in time: down, not slow
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func kind(err error) string {
	if isDial(err) {
		return "connection refused or not accepted in time"
	}
	return "the connection closed before an answer"
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
