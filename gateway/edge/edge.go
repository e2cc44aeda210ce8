package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The same rules, names and metrics as the Python gateway's edge layers (gateway/limits.py,
// clustergrowth/web.py), so that either can stand at the front door.
var (
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	exempt           = []string{"/healthz", "/readyz", "/metrics"}
	writes           = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true}
	securityHeaders  = [][2]string{
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Referrer-Policy", "no-referrer"},
		{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
		{"Cross-Origin-Resource-Policy", "same-site"},
	}
	apiCSP        = "default-src 'none'; frame-ancestors 'none'"
	corsMethods   = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders   = "Authorization, Content-Type, If-Match, X-Request-ID, traceparent"
	corsExposed   = "ETag, Link, Retry-After, RateLimit, RateLimit-Policy, X-Request-ID"
	jsonOK        = []byte(`{"status":"ok"}`)
	problemPrefix = "https://smeclustergrowth.eu/problems/"
)

type Edge struct {
	cfg       *Config
	upstreams map[string]*Upstream
	describe  *Upstream // every path that is not /api/v1/… nor answered here
	corsAllow map[string]bool
	quotas    *Quotas
	metrics   http.Handler
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

func NewEdge(cfg *Config) (*Edge, error) {
	reg := prometheus.NewRegistry()
	e := &Edge{
		cfg:       cfg,
		upstreams: map[string]*Upstream{},
		corsAllow: map[string]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route template and status",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request duration by route template",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	pool := newPoolMetrics()
	reg.MustRegister(e.requests, e.duration, pool.dials, pool.open)
	for name, u := range cfg.Upstreams {
		up, err := NewUpstream(name, u.URL, u.TimeoutS, cfg, pool)
		if err != nil {
			return nil, err
		}
		e.upstreams[name] = up
	}
	if cfg.DescribeURL != "" {
		up, err := NewUpstream("describe", cfg.DescribeURL, 10, cfg, pool)
		if err != nil {
			return nil, err
		}
		e.describe = up
	}
	for _, o := range cfg.CORSOrigins {
		e.corsAllow[o] = true
	}
	if cfg.RateLimits {
		e.quotas = NewQuotas(cfg)
	}
	e.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return e, nil
}

func (e *Edge) Close() {
	for _, u := range e.upstreams {
		u.closeIdle()
	}
	if e.quotas != nil {
		e.quotas.Close()
	}
}

// Handle answers one request: the edge rules in the Python gateway's order (security headers and
// CORS outermost, then quotas, the body cap, and the service), with a request id and RED metrics.
func (e *Edge) Handle(rp *reply, r *http.Request) {
	start := time.Now()
	rid := r.Header.Get("X-Request-Id")
	if !requestIDPattern.MatchString(rid) {
		rid = randomHex(16)
	}
	rp.header["X-Request-Id"] = []string{rid}
	route := e.serve(rp, r, rid)
	status := rp.status
	if status == 0 {
		status = http.StatusOK
	}
	e.requests.WithLabelValues(r.Method, route, strconv.Itoa(status)).Inc()
	e.duration.WithLabelValues(r.Method, route).Observe(time.Since(start).Seconds())
}

// serve answers one request and returns its route template for the metrics.
func (e *Edge) serve(w *reply, r *http.Request, rid string) string {
	path := r.URL.Path
	if e.cors(w, r) {
		return "preflight"
	}
	isExempt := false
	for _, p := range exempt {
		isExempt = isExempt || strings.HasPrefix(path, p)
	}
	if !isExempt && e.quotas != nil && !e.quotas.Allow(w, r) {
		return routeOf(path, e.upstreams)
	}
	switch path {
	case "/healthz", "/readyz":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jsonOK)
		return path
	case "/metrics":
		e.metrics.ServeHTTP(w, r)
		return path
	}
	body, ok := e.readBody(w, r)
	if !ok {
		return routeOf(path, e.upstreams)
	}
	if rest, found := strings.CutPrefix(path, "/api/v1/"); found {
		name, _, _ := strings.Cut(rest, "/")
		up := e.upstreams[name]
		if up == nil {
			writeProblem(w, http.StatusNotFound, "not-found", "Not found",
				fmt.Sprintf("no service %q behind this gateway", name), nil)
			return "unmatched"
		}
		up.Forward(w, r, body, rid)
		return "/api/v1/" + name + "/*"
	}
	if e.describe == nil {
		writeProblem(w, http.StatusNotFound, "not-found", "Not found", "nothing here", nil)
		return "unmatched"
	}
	e.describe.Forward(w, r, body, rid)
	return path
}

func routeOf(path string, upstreams map[string]*Upstream) string {
	if rest, found := strings.CutPrefix(path, "/api/v1/"); found {
		name, _, _ := strings.Cut(rest, "/")
		if upstreams[name] != nil {
			return "/api/v1/" + name + "/*"
		}
	}
	return "unmatched"
}

// cors adds the allow-list headers; a preflight is answered here (true), never forwarded.
func (e *Edge) cors(w *reply, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(e.corsAllow) == 0 {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := e.corsAllow[origin]
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if !allowed {
			writeProblem(w, http.StatusBadRequest, "bad-request", "Bad request",
				fmt.Sprintf("origin %q is not one of this region's web clients", origin), nil)
			return true
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", "600")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK"))
		return true
	}
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", corsExposed)
	}
	return false
}

// readBody holds the request body (at most max_body_bytes) so that a retry can send it again;
// larger bodies get 413, by Content-Length at once or while they stream.
func (e *Edge) readBody(w *reply, r *http.Request) ([]byte, bool) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return nil, true
	}
	max := e.cfg.MaxBodyBytes
	tooLarge := func() ([]byte, bool) {
		writeProblem(w, http.StatusRequestEntityTooLarge, "too-large", "Content too large",
			fmt.Sprintf("the request body is larger than %d bytes", max), nil)
		return nil, false
	}
	if r.ContentLength > max {
		w.close = true
		return tooLarge()
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
	if n > max {
		w.close = true // the rest of the body is not read
		return tooLarge()
	}
	if err != nil {
		w.close = true
		writeProblem(w, http.StatusBadRequest, "bad-request", "Bad request", "the request body could not be read", nil)
		return nil, false
	}
	return buf.Bytes(), true
}

func writeProblem(w http.ResponseWriter, status int, suffix, title, detail string, extra map[string]any) {
	body := map[string]any{"type": problemPrefix + suffix, "title": title, "status": status, "detail": detail}
	for k, v := range extra {
		body[k] = v
	}
	raw, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func ceilSeconds(d float64) int64 { return int64(math.Max(1, math.Ceil(d))) }
