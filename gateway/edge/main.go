// Command cg-edge is the compiled front of a regional gateway in the distributed mode.
//
// It answers /api/v1/<service>/… itself, one goroutine per client connection reading requests with
// net/http's parser and forwarding each on a pooled upstream connection from that same goroutine
// (net/http's server and transport hand every request across three goroutines, which on a 2-core
// machine cost more than the rest of the hop; see server.go): request id, security headers, CORS allow-list, quotas
// (in memory or shared in Redis), body cap, then a keep-alive connection pool per service with a
// timeout, one retry for idempotent requests that got no answer, and a circuit breaker. It serves
// /healthz, /readyz and /metrics, and passes every other path (the merged API description, the docs
// page) to the Python gateway at describe_url. The configuration is the gateway's own settings
// (CG_GATEWAY_*), validated and written as JSON by `clustergrowth run edge`; see gateway/edge.py.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Config is written by gateway/edge.py from GatewaySettings; field names are the settings' names.
type Config struct {
	Upstreams              map[string]UpstreamConfig `json:"upstreams"`
	DescribeURL            string                    `json:"describe_url"`
	ConnectTimeoutS        float64                   `json:"connect_timeout_s"`
	BreakerFailures        int                       `json:"breaker_failures"`
	BreakerCooldownS       float64                   `json:"breaker_cooldown_s"`
	MaxBodyBytes           int64                     `json:"max_body_bytes"`
	CORSOrigins            []string                  `json:"cors_origins"`
	RateLimits             bool                      `json:"rate_limits"`
	RateWindowS            int64                     `json:"rate_window_s"`
	RatePerPrincipal       int64                     `json:"rate_per_principal"`
	RateWritesPerPrincipal int64                     `json:"rate_writes_per_principal"`
	RatePerAddress         int64                     `json:"rate_per_address"`
	RateStoreURL           string                    `json:"rate_store_url"`
}

type UpstreamConfig struct {
	URL      string  `json:"url"`
	TimeoutS float64 `json:"timeout_s"`
}

func (c *Config) validate() error {
	if len(c.Upstreams) == 0 {
		return errors.New("upstreams: at least one service is needed")
	}
	for name, u := range c.Upstreams {
		if !strings.HasPrefix(u.URL, "http://") {
			return fmt.Errorf("upstreams.%s.url: %q is not an http://host:port URL", name, u.URL)
		}
		if u.TimeoutS <= 0 {
			return fmt.Errorf("upstreams.%s.timeout_s: must be positive", name)
		}
	}
	if c.DescribeURL != "" && !strings.HasPrefix(c.DescribeURL, "http://") {
		return fmt.Errorf("describe_url: %q is not an http://host:port URL", c.DescribeURL)
	}
	for _, o := range c.CORSOrigins {
		if o == "*" || !(strings.HasPrefix(o, "https://") || strings.HasPrefix(o, "http://localhost") ||
			strings.HasPrefix(o, "http://127.0.0.1")) {
			return fmt.Errorf("cors_origins: %q: list each web client's https origin; '*' is never allowed", o)
		}
	}
	switch {
	case c.ConnectTimeoutS <= 0:
		return errors.New("connect_timeout_s: must be positive")
	case c.BreakerFailures < 1:
		return errors.New("breaker_failures: must be at least 1")
	case c.BreakerCooldownS <= 0:
		return errors.New("breaker_cooldown_s: must be positive")
	case c.MaxBodyBytes < 1024:
		return errors.New("max_body_bytes: must be at least 1024")
	case c.RateLimits && (c.RateWindowS < 1 || c.RatePerPrincipal < 1 || c.RateWritesPerPrincipal < 1 || c.RatePerAddress < 1):
		return errors.New("rate_*: windows and quotas must be at least 1")
	}
	return nil
}

func loadConfig(path string) (*Config, error) {
	raw := []byte(os.Getenv("CG_EDGE_CONFIG"))
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	if len(raw) == 0 {
		return nil, errors.New("no configuration: pass -config FILE or set CG_EDGE_CONFIG (clustergrowth run edge does)")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return &c, c.validate()
}

func logLevel() slog.Level {
	var l slog.Level
	name := strings.Replace(strings.ToUpper(os.Getenv("CG_LOG_LEVEL")), "WARNING", "WARN", 1) // Python's names
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "address to listen on")
	configPath := flag.String("config", "", "JSON configuration file (else $CG_EDGE_CONFIG)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})).With("service", "gateway-edge"))
	cfg, err := loadConfig(*configPath)
	if err != nil {
		slog.Error("refusing to start", "error", err.Error())
		os.Exit(2)
	}
	edge, err := NewEdge(cfg)
	if err != nil {
		slog.Error("refusing to start", "error", err.Error())
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		slog.Error("cannot listen", "address", *listen, "error", err.Error())
		os.Exit(1)
	}
	srv := NewServer(edge)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		srv.Shutdown(ln, 5*time.Second)
	}()
	slog.Info("listening", "address", ln.Addr().String(), "services", len(cfg.Upstreams))
	srv.Serve(ln)
	edge.Close()
}
