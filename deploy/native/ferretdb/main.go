// Command ferretdb-sqlite runs FerretDB v1 (MongoDB wire protocol) with its SQLite handler on a
// loopback address, through FerretDB's embeddable package. It exists because `go install` of
// FerretDB's own command panics outside a git checkout (its version file is generated at release).
//
// usage: ferretdb-sqlite -listen 127.0.0.1:27017 -dir /path/to/data [-synchronous normal]
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
	flag.Parse()
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
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("ferretdb-sqlite listening on %s, data in %s", *listen, abs)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
