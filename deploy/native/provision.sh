#!/usr/bin/env bash
# Provision native backends into the repository's ignored .cache/ folder, once; prints what was asked for.
#   provision.sh kafka     -> prints the folder holding Kafka's runtime classpath (jars resolved by Maven)
#   provision.sh ferretdb  -> prints the path of a FerretDB binary (deploy/native/ferretdb, built with go)
#   provision.sh redis     -> prints the path of a redis-server launcher (Debian's redis packages, unpacked
#                             under .cache without installing them)
#   provision.sh edge      -> prints the path of the gateway's compiled front (gateway/edge, Rust without
#                             dependencies, built offline with cargo; rebuilt when its sources change)
#   provision.sh chromium  -> prints the path of a headless-capable Chromium (Debian's chromium package,
#                             installed with apt-get when /usr/bin/chromium is missing; for the docs test)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka-pom.xml")
FERRETDB_VERSION=$(sed -n 's:^require github.com/FerretDB/FerretDB \(v[0-9.]*\)$:\1:p' "$here/ferretdb/go.mod")
case "${1:?kafka|ferretdb|redis|edge|chromium}" in
  kafka)
    libs="$cache/kafka-$KAFKA_VERSION/libs"
    if [ ! -f "$libs/.complete" ]; then
      command -v mvn >/dev/null || { echo "provision: Maven (mvn) is needed to fetch Kafka" >&2; exit 1; }
      mkdir -p "$libs"
      mvn -q -B -f "$here/kafka-pom.xml" -Dmaven.repo.local="$cache/m2" \
        dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime >&2
      touch "$libs/.complete"
    fi
    echo "$libs" ;;
  ferretdb)
    bin="$cache/ferretdb-$FERRETDB_VERSION/ferretdb"
    if [ ! -x "$bin" ]; then
      command -v go >/dev/null || { echo "provision: Go is needed to build FerretDB" >&2; exit 1; }
      mkdir -p "$(dirname "$bin")"
      (cd "$here/ferretdb" && GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild" GOFLAGS=-modcacherw \
        go build -o "$bin" . >&2)
    fi
    echo "$bin" ;;
  redis)
    dir="$cache/redis"
    launcher="$dir/redis-server"
    if [ ! -x "$launcher" ]; then
      command -v apt-get >/dev/null || { echo "provision: apt-get is needed to fetch Redis" >&2; exit 1; }
      debs="$cache/redis-debs"
      mkdir -p "$debs" "$dir/root"
      fetch() { (cd "$debs" && apt-get download -q redis-tools libjemalloc2 liblzf1 >&2 2>&1); }
      fetch || { apt-get update -qq >&2 && fetch; }
      for deb in "$debs"/*.deb; do dpkg -x "$deb" "$dir/root"; done
      ln -sf redis-check-rdb "$dir/root/usr/bin/redis-server"  # Debian's redis-server is this binary
      libs=$(dirname "$(find "$dir/root" -name 'libjemalloc.so.2' | head -1)")
      printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$libs" "$dir/root/usr/bin/redis-server" > "$launcher"
      chmod +x "$launcher"
    fi
    echo "$launcher" ;;
  edge)
    cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
    [ -x "$cargo" ] || { echo "provision: Rust's cargo is needed to build the gateway's front (gateway/edge)" >&2; exit 1; }
    CARGO_TARGET_DIR="$cache/edge/target" "$cargo" build -q --release --offline --locked \
      --manifest-path "$root/gateway/edge/Cargo.toml" >&2
    echo "$cache/edge/target/release/cg-edge" ;;
  chromium)
    bin=/usr/bin/chromium
    if [ ! -x "$bin" ]; then
      command -v apt-get >/dev/null || { echo "provision: apt-get is needed to install Chromium" >&2; exit 1; }
      apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-liberation >&2; }
      apt_install || { apt-get update -qq >&2 && apt_install; }
    fi
    echo "$bin" ;;
  *) echo "provision: unknown backend $1" >&2; exit 2 ;;
esac
