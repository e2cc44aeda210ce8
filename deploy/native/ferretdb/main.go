// Command ferretdb-sqlite runs FerretDB v1 (MongoDB wire protocol) with its SQLite handler on a
// loopback address, through FerretDB's embeddable package. It exists because `go install` of
// FerretDB's own command panics outside a git checkout (its version file is generated at release).
//
// usage: ferretdb-sqlite -listen 127.0.0.1:27017 -dir /path/to/data [-synchronous normal]
//
//	[-listen-tls 127.0.0.1:27018 -tls-cert server.pem -tls-key server.key [-tls-ca ca.pem]]
//
// With -listen-tls FerretDB also serves TLS there (-listen "" turns the plaintext listener off); with
// -tls-ca it requires a client certificate issued by that CA (mutual TLS), as a production MongoDB would.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "data", "directory for the SQLite databases")
	synchronous := flag.String("synchronous", "full", "SQLite synchronous pragma: full, or normal for test backends")
	listenTLS := flag.String("listen-tls", "", "TCP address of a TLS listener (off when empty)")
	tlsCert := flag.String("tls-cert", "", "the TLS listener's certificate (PEM)")
	tlsKey := flag.String("tls-key", "", "the TLS listener's private key (PEM)")
	tlsCA := flag.String("tls-ca", "", "CA (PEM) whose client certificates the TLS listener requires (optional)")
	flag.Parse()
	if *listenTLS != "" && (*tlsCert == "" || *tlsKey == "") {
		log.Fatal("-listen-tls needs -tls-cert and -tls-key")
	}
	if *listen == "" && *listenTLS == "" {
		log.Fatal("nothing to listen on: -listen and -listen-tls are both empty")
	}
	if *synchronous != "full" && *synchronous != "normal" {
		log.Fatalf("-synchronous must be full or normal, not %q", *synchronous)
	}

	abs, err := filepath.Abs(*dir)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{
			TCP:         *listen,
			TLS:         *listenTLS,
			TLSCertFile: *tlsCert,
			TLSKeyFile:  *tlsKey,
			TLSCAFile:   *tlsCA,
		},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("ferretdb-sqlite listening on %q (TLS on %q), data in %s", *listen, *listenTLS, abs)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
