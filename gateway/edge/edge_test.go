package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func valid() Config {
	return Config{
		Upstreams:       map[string]UpstreamConfig{"facilities": {URL: "http://127.0.0.1:8101", TimeoutS: 10}},
		ConnectTimeoutS: 0.5, BreakerFailures: 3, BreakerCooldownS: 5, MaxBodyBytes: 1 << 20,
		RateLimits: true, RateWindowS: 60, RatePerPrincipal: 600, RateWritesPerPrincipal: 120, RatePerAddress: 1200,
	}
}

func TestBadConfigurationIsRefusedNamingTheField(t *testing.T) {
	cases := map[string]func(c *Config){
		"cors_origins":      func(c *Config) { c.CORSOrigins = []string{"*"} },
		"upstreams.x.url":   func(c *Config) { c.Upstreams = map[string]UpstreamConfig{"x": {URL: "ftp://h", TimeoutS: 1}} },
		"timeout_s":         func(c *Config) { c.Upstreams = map[string]UpstreamConfig{"x": {URL: "http://h:1", TimeoutS: 0}} },
		"max_body_bytes":    func(c *Config) { c.MaxBodyBytes = 10 },
		"breaker_failures":  func(c *Config) { c.BreakerFailures = 0 },
		"connect_timeout_s": func(c *Config) { c.ConnectTimeoutS = 0 },
		"rate_":             func(c *Config) { c.RatePerAddress = 0 },
		"upstreams":         func(c *Config) { c.Upstreams = nil },
		"describe_url":      func(c *Config) { c.DescribeURL = "https://docs" },
	}
	for field, spoil := range cases {
		c := valid()
		spoil(&c)
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: got %v", field, err)
		}
	}
	c := valid()
	if err := c.validate(); err != nil {
		t.Fatalf("a valid configuration was refused: %v", err)
	}
}

func TestBreakerOpensAfterFailuresAndClosesAfterOneGoodTrial(t *testing.T) {
	b := &Breaker{threshold: 2, cooldown: 50 * time.Millisecond, gauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})}
	b.Failure()
	if b.Wait() != 0 {
		t.Fatal("open after one failure of two")
	}
	b.Failure()
	if b.Wait() == 0 {
		t.Fatal("still closed after two failures")
	}
	time.Sleep(60 * time.Millisecond)
	if b.Wait() != 0 {
		t.Fatal("no trial after the cool-down")
	}
	if b.Wait() == 0 {
		t.Fatal("a second request went through while the trial is out")
	}
	b.Success()
	if b.Wait() != 0 {
		t.Fatal("a good trial did not close the circuit")
	}
}

func TestMemoryCounterCountsPerKeyAndWindow(t *testing.T) {
	m := NewMemoryCounter()
	for i := int64(1); i <= 3; i++ {
		if got := m.Hit(context.Background(), []string{"address:a:7", "principal:t:7"}, time.Minute); got[0] != i || got[1] != i {
			t.Fatalf("hit %d: %v", i, got)
		}
	}
	if got := m.Hit(context.Background(), []string{"address:a:8"}, time.Minute); got[0] != 1 {
		t.Fatalf("a new window starts at 1, got %v", got)
	}
}
