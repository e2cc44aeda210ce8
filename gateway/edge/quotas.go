package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Fixed-window quotas per bearer token (a hash of it: unverified claims are never trusted here), a
// tighter one on writes, and one per client address; the keys are the Python gateway's
// (gateway/limits.py), so Python and Go replicas sharing one Redis hold one quota between them.

type quota struct {
	name   string
	limit  int64
	window int64
}

type Counter interface {
	// Hit counts one request for each key in its window; the counts so far, in order.
	Hit(ctx context.Context, keys []string, ttl time.Duration) []int64
}

type MemoryCounter struct {
	mu      sync.Mutex
	windows map[string]map[string]int64 // window id → key → count; only the live windows are kept
}

func NewMemoryCounter() *MemoryCounter { return &MemoryCounter{windows: map[string]map[string]int64{}} }

func (m *MemoryCounter) Hit(_ context.Context, keys []string, _ time.Duration) []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int64, len(keys))
	live := map[string]bool{}
	for i, k := range keys {
		window := k[lastColon(k)+1:]
		live[window] = true
		counts := m.windows[window]
		if counts == nil {
			counts = map[string]int64{}
			m.windows[window] = counts
		}
		counts[k]++
		out[i] = counts[k]
	}
	if len(m.windows) > 8 { // windows of every quota length are live at once; drop the ones no key uses now
		for w := range m.windows {
			if !live[w] {
				delete(m.windows, w)
			}
		}
	}
	return out
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

// RedisCounter: INCR and EXPIRE for every quota of a request in one round trip (MULTI/EXEC). While
// Redis does not answer, each replica counts in its own memory and tries Redis again 5 s later.
type RedisCounter struct {
	client    *redis.Client
	fallback  *MemoryCounter
	mu        sync.Mutex
	downUntil time.Time
}

func NewRedisCounter(url string) (*RedisCounter, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("rate_store_url: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 250*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	opts.MaxRetries = -1 // no retries: the fallback answers instead
	opts.PoolSize = 64
	return &RedisCounter{client: redis.NewClient(opts), fallback: NewMemoryCounter()}, nil
}

func (c *RedisCounter) Hit(ctx context.Context, keys []string, ttl time.Duration) []int64 {
	c.mu.Lock()
	degraded := time.Now().Before(c.downUntil)
	c.mu.Unlock()
	if degraded {
		return c.fallback.Hit(ctx, keys, ttl)
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = "cg:quota:" + k
	}
	var incrs []*redis.IntCmd
	_, err := c.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, n := range names {
			incrs = append(incrs, p.Incr(ctx, n))
			p.Expire(ctx, n, ttl)
		}
		return nil
	})
	if err != nil {
		slog.Warn("quota store unavailable; counting in this replica for 5s", "error", err.Error())
		c.mu.Lock()
		c.downUntil = time.Now().Add(5 * time.Second)
		c.mu.Unlock()
		return c.fallback.Hit(ctx, keys, ttl)
	}
	out := make([]int64, len(incrs))
	for i, cmd := range incrs {
		out[i] = cmd.Val()
	}
	return out
}

type Quotas struct {
	counter                     Counter
	perPrincipal, writes, perIP quota
	closer                      func()
}

func NewQuotas(cfg *Config) *Quotas {
	w := cfg.RateWindowS
	q := &Quotas{
		perPrincipal: quota{"principal", cfg.RatePerPrincipal, w},
		writes:       quota{"principal-writes", cfg.RateWritesPerPrincipal, w},
		perIP:        quota{"address", cfg.RatePerAddress, w},
		counter:      NewMemoryCounter(),
		closer:       func() {},
	}
	if cfg.RateStoreURL != "" {
		if rc, err := NewRedisCounter(cfg.RateStoreURL); err == nil {
			q.counter, q.closer = rc, func() { _ = rc.client.Close() }
		} else {
			slog.Error("quota store not usable; counting in this replica", "error", err.Error())
		}
	}
	return q
}

func (q *Quotas) Close() { q.closer() }

// Allow counts the request against every quota that applies; false after answering 429 itself.
func (q *Quotas) Allow(w http.ResponseWriter, r *http.Request) bool {
	now := float64(time.Now().UnixNano()) / 1e9
	checks := []quota{q.perIP}
	subjects := []string{"addr:" + clientAddress(r)}
	if auth := r.Header.Get("Authorization"); auth != "" {
		sum := sha256.Sum256([]byte(auth))
		who := "tok:" + hex.EncodeToString(sum[:])[:24]
		checks, subjects = append(checks, q.perPrincipal), append(subjects, who)
		if writes[r.Method] {
			checks, subjects = append(checks, q.writes), append(subjects, who)
		}
	}
	keys := make([]string, len(checks))
	for i, c := range checks {
		keys[i] = fmt.Sprintf("%s:%s:%d", c.name, subjects[i], int64(now)/c.window)
	}
	used := q.counter.Hit(r.Context(), keys, time.Duration(2*q.perIP.window)*time.Second)
	tightest, tightRemaining, tightReset := -1, int64(0), 0.0
	for i, c := range checks {
		window := int64(now) / c.window
		reset := float64((window+1)*c.window) - now
		if used[i] > c.limit {
			setRateHeaders(w.Header(), c, 0, reset)
			w.Header().Set("Retry-After", fmt.Sprint(ceilSeconds(reset)))
			writeProblem(w, http.StatusTooManyRequests, "rate-limited", "Too many requests",
				fmt.Sprintf("more than %d requests in %d s (%s); slow down", c.limit, c.window, c.name),
				map[string]any{"quota": c.name})
			return false
		}
		if remaining := c.limit - used[i]; tightest < 0 || remaining < tightRemaining {
			tightest, tightRemaining, tightReset = i, remaining, reset
		}
	}
	setRateHeaders(w.Header(), checks[tightest], tightRemaining, tightReset)
	return true
}

func setRateHeaders(h http.Header, c quota, remaining int64, reset float64) {
	h.Set("RateLimit-Policy", fmt.Sprintf(`"%s";q=%d;w=%d`, c.name, c.limit, c.window))
	h.Set("RateLimit", fmt.Sprintf(`"%s";r=%d;t=%d`, c.name, max(remaining, 0), ceilSeconds(reset)))
}
