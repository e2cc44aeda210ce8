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
	"net/http/httputil"
	"strconv"
	"sync"
	"time"
)

// The HTTP/1.1 server side of the front: one goroutine per client connection, requests parsed by
// net/http's ReadRequest (framing, chunked bodies, header syntax), answered in order (pipelined
// requests queue in the socket). Measured on 2 cores (python -m bench.gateway): net/http's Server and
// Transport added 0.18-0.23 ms per request, this loop with the pool in proxy.go 0.15-0.18 ms, and a
// bare byte-splicing Go proxy 0.10 ms.

const (
	maxHeadBytes = 64 << 10
	headTimeout  = 10 * time.Second // a client that trickles its request head is dropped
	idleTimeout  = 75 * time.Second
	bodyTimeout  = 30 * time.Second
)

type Server struct {
	edge   *Edge
	mu     sync.Mutex
	conns  map[net.Conn]bool // idle between requests: closed at once on shutdown
	active sync.WaitGroup
	done   bool
}

func NewServer(e *Edge) *Server { return &Server{edge: e, conns: map[net.Conn]bool{}} }

func (s *Server) Serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.active.Wait()
			return
		}
		s.active.Add(1)
		go s.serveConn(c)
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in flight finish (bounded).
func (s *Server) Shutdown(ln net.Listener, grace time.Duration) {
	_ = ln.Close()
	s.mu.Lock()
	s.done = true
	for c, idle := range s.conns {
		if idle {
			_ = c.Close()
		}
	}
	s.mu.Unlock()
	wait := make(chan struct{})
	go func() { s.active.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-time.After(grace):
	}
}

func (s *Server) setIdle(c net.Conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done && idle {
		return false
	}
	s.conns[c] = idle
	return true
}

func (s *Server) serveConn(c net.Conn) {
	defer s.active.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	limit := &io.LimitedReader{R: c, N: maxHeadBytes}
	br := bufio.NewReaderSize(limit, 16<<10)
	bw := bufio.NewWriterSize(c, 16<<10)
	remote := c.RemoteAddr().String()
	for {
		if !s.setIdle(c, true) {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		limit.N = maxHeadBytes - int64(br.Buffered()) // what is buffered already counts
		if _, err := br.Peek(1); err != nil {
			return // closed, idle too long, or shutting down
		}
		s.setIdle(c, false)
		_ = c.SetReadDeadline(time.Now().Add(headTimeout))
		req, err := http.ReadRequest(br)
		if err != nil {
			status := http.StatusBadRequest
			if limit.N <= 0 {
				status = http.StatusRequestHeaderFieldsTooLarge
			}
			if status != http.StatusBadRequest || (!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF)) {
				rp := newReply(bw, nil)
				writeProblem(rp, status, "bad-request", http.StatusText(status), reason(status, err), nil)
				rp.finish()
				_ = bw.Flush()
				linger(c)
			}
			return
		}
		limit.N = math.MaxInt64
		_ = c.SetReadDeadline(time.Now().Add(bodyTimeout))
		req.RemoteAddr = remote
		if req.URL.IsAbs() || req.RequestURI == "*" || req.RequestURI == "" || req.RequestURI[0] != '/' {
			rp := newReply(bw, req)
			writeProblem(rp, http.StatusBadRequest, "bad-request", "Bad request", "only origin-form request targets are served", nil)
			rp.close = true
			rp.finish()
			_ = bw.Flush()
			linger(c)
			return
		}
		if req.Header.Get("Expect") == "100-continue" && req.ContentLength != 0 {
			_, _ = bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			_ = bw.Flush()
		}
		rp := newReply(bw, req)
		s.edge.Handle(rp, req)
		rp.finish()
		// the rest of an unread body must go before the next request can be read
		if n, _ := io.Copy(io.Discard, io.LimitReader(req.Body, 256<<10)); n >= 256<<10 {
			rp.close = true
		}
		if err := bw.Flush(); err != nil || rp.close || req.Close || rp.aborted {
			if rp.close {
				linger(c) // unread input would turn the close into a reset that loses the answer
			}
			return
		}
	}
}

func reason(status int, err error) string {
	if status == http.StatusRequestHeaderFieldsTooLarge {
		return fmt.Sprintf("the request head is larger than %d bytes", maxHeadBytes)
	}
	return "the request could not be read: " + err.Error()
}

// linger closes the sending side and reads what the client still sends, briefly, before the close.
func linger(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	}
}

// reply is the response to one request: buffered (local answers, with a Content-Length) unless
// stream() writes the head at once and the body as it comes.
type reply struct {
	bw       *bufio.Writer
	req      *http.Request
	header   http.Header
	status   int
	buf      bytes.Buffer
	streamed bool
	close    bool
	aborted  bool
	csp      bool
}

func newReply(bw *bufio.Writer, req *http.Request) *reply {
	csp := req == nil || !hasPrefix(req.URL.Path, "/docs")
	return &reply{bw: bw, req: req, header: http.Header{}, csp: csp}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func (r *reply) Header() http.Header { return r.header }

func (r *reply) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *reply) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.buf.Write(b)
}

func (r *reply) head(status int, length int64, chunked bool) {
	h := r.header
	for _, kv := range securityHeaders {
		if _, ok := h[kv[0]]; !ok {
			h[kv[0]] = []string{kv[1]}
		}
	}
	if r.csp {
		if _, ok := h["Content-Security-Policy"]; !ok {
			h["Content-Security-Policy"] = []string{apiCSP}
		}
	}
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	if chunked {
		h["Transfer-Encoding"] = []string{"chunked"}
	} else if length >= 0 && bodyAllowed(status) {
		h["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	}
	if r.close || (r.req != nil && r.req.Close) {
		h["Connection"] = []string{"close"}
	}
	_, _ = r.bw.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	_ = h.Write(r.bw)
	_, _ = r.bw.WriteString("\r\n")
}

// finish writes a buffered answer (a no-op after stream()).
func (r *reply) finish() {
	if r.streamed {
		return
	}
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.head(r.status, int64(r.buf.Len()), false)
	if bodyAllowed(r.status) && (r.req == nil || r.req.Method != http.MethodHead) {
		_, _ = r.bw.Write(r.buf.Bytes())
	}
}

// stream writes the head now and copies body to the client as it arrives, flushed after every read
// when the length is unknown. An error from body (not from the client) is returned.
func (r *reply) stream(status int, length int64, body io.Reader) error {
	r.streamed, r.status = true, status
	if r.req.Method == http.MethodHead || !bodyAllowed(status) {
		r.head(status, length, false)
		return nil
	}
	if length >= 0 {
		r.head(status, length, false)
		n, err := io.Copy(r.bw, body)
		if err == nil && n < length {
			err = io.ErrUnexpectedEOF
		}
		return r.broken(err)
	}
	r.head(status, -1, true)
	cw := httputil.NewChunkedWriter(r.bw)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := cw.Write(buf[:n]); werr != nil || r.bw.Flush() != nil {
				r.aborted = true
				return nil // the client left
			}
		}
		if errors.Is(err, io.EOF) {
			_ = cw.Close()
			_, _ = r.bw.WriteString("\r\n")
			return nil
		}
		if err != nil {
			return r.broken(err)
		}
	}
}

// broken: the head is out, so closing the client connection is the only honest signal left.
func (r *reply) broken(err error) error {
	if err != nil {
		r.aborted = true
		slog.Debug("answer broken off", "error", err.Error())
	}
	return err
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
