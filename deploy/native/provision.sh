#!/usr/bin/env bash
# Provision native backends into the repository's ignored .cache/ folder, once; prints what was asked for.
#   provision.sh kafka     -> prints the folder holding Kafka's runtime classpath (jars resolved by Maven)
#   provision.sh ferretdb  -> prints the path of a FerretDB binary (deploy/native/ferretdb, built with go)
#   provision.sh redis     -> prints the path of a redis-server launcher (Debian's redis packages, unpacked
#                             under .cache without installing them)
#   provision.sh wrk       -> prints the path of a wrk launcher (Debian's wrk and LuaJIT packages, unpacked under
#                             .cache; the load generator of bench/contention.py)
#   provision.sh edge      -> prints the path of the gateway's compiled front (gateway/edge, Rust on crates
#                             locked in its Cargo.lock and fetched into .cache, built offline with cargo)
#   provision.sh edge-floor -> prints the path of gateway/edge's floor example (the least proxy on the same
#                             crates, built like the front; measured beside it by bench/edge_instructions.py)
#   provision.sh cargo-fuzz -> prints the path of cargo-fuzz (pinned, installed with cargo into .cache/cargo-tools)
#                             after fetching the crates of the front's libFuzzer target (gateway/edge/fuzz)
#   provision.sh nginx     -> prints the path of nginx (Debian's nginx package, unpacked under .cache without
#                             installing it; the differential test and the benchmarks of the compiled front)
#   provision.sh chromium  -> prints the path of a headless-capable Chromium (Debian's chromium package,
#                             installed with apt-get when /usr/bin/chromium is missing; for the docs test)
#   provision.sh asyncapi  -> prints the node_modules folder holding the official AsyncAPI parser
#                             (@asyncapi/parser, pinned by tests/asyncapi/package-lock.json, npm ci)
#   provision.sh helm      -> prints the path of a Helm binary (helm.sh/helm/v3, pinned, built with its Makefile's version flags)
#   provision.sh crds      -> prints a folder of pinned CustomResourceDefinitions for the chart's tests: Strimzi's
#                             (strimzi/, from io.strimzi:api's test jar, resolved by Maven) and the MongoDB community
#                             operator's (mongodb/, from its Go module)
#   provision.sh compose-spec -> prints the path of the Compose Specification's JSON schema (schema/compose-spec.json
#                             of the Go module github.com/compose-spec/compose-go/v2, pinned)
#   provision.sh promtool  -> prints the path of Prometheus's promtool (Debian's prometheus package, unpacked
#                             under .cache without installing it; checks the alert rules and deploy/prometheus.yml)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka-pom.xml")
FERRETDB_VERSION=$(sed -n 's:^require github.com/FerretDB/FerretDB \(v[0-9.]*\)$:\1:p' "$here/ferretdb/go.mod")
HELM_VERSION=v3.22.0
CARGO_FUZZ_VERSION=0.13.2
STRIMZI_VERSION=0.51.0
MONGODB_OPERATOR_VERSION=v0.13.0
COMPOSE_GO_VERSION=v2.16.2
# unpack_debs WHAT DEBS ROOT PACKAGE...: Debian's packages downloaded into DEBS (apt-get update once if the
# lists are stale) and unpacked into ROOT, nothing installed; WHAT names them in the error without apt-get
unpack_debs() {
  local what=$1 debs=$2 into=$3; shift 3
  command -v apt-get >/dev/null || { echo "provision: apt-get is needed to fetch $what" >&2; exit 1; }
  mkdir -p "$debs" "$into"
  fetch() { (cd "$debs" && apt-get download -q "$@" >&2 2>&1); }
  fetch "$@" || { apt-get update -qq >&2 && fetch "$@"; }
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$into"; done
}
case "${1:?kafka|ferretdb|redis|wrk|nginx|edge|edge-floor|cargo-fuzz|chromium|asyncapi|lighthouse|helm|crds|compose-spec|promtool}" in
  kafka)
    # keyed by the POM's content too: a dependency added (connect-mirror) resolves into a fresh folder
    libs="$cache/kafka-$KAFKA_VERSION-$(cksum < "$here/kafka-pom.xml" | cut -d' ' -f1)/libs"
    if [ ! -f "$libs/.complete" ]; then
      command -v mvn >/dev/null || { echo "provision: Maven (mvn) is needed to fetch Kafka" >&2; exit 1; }
      mkdir -p "$libs"
      mvn -q -B -f "$here/kafka-pom.xml" -Dmaven.repo.local="$cache/m2" \
        dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime >&2
      touch "$libs/.complete"
    fi
    echo "$libs" ;;
  ferretdb)
    # keyed by the launcher's source too: a change to main.go builds a fresh binary
    bin="$cache/ferretdb-$FERRETDB_VERSION-$(cat "$here/ferretdb/main.go" "$here/ferretdb/go.sum" | cksum | cut -d' ' -f1)/ferretdb"
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
      unpack_debs Redis "$cache/redis-debs" "$dir/root" redis-tools libjemalloc2 liblzf1
      ln -sf redis-check-rdb "$dir/root/usr/bin/redis-server"  # Debian's redis-server is this binary
      libs=$(dirname "$(find "$dir/root" -name 'libjemalloc.so.2' | head -1)")
      printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$libs" "$dir/root/usr/bin/redis-server" > "$launcher"
      chmod +x "$launcher"
    fi
    echo "$launcher" ;;
  wrk)
    # wrk, the compiled HTTP load generator (Debian's package and its LuaJIT, unpacked under .cache like
    # redis); bench/contention.py drives the server with it, a Lua script giving each request its own body
    dir="$cache/wrk"
    launcher="$dir/wrk"
    if [ ! -x "$launcher" ]; then
      unpack_debs wrk "$cache/wrk-debs" "$dir/root" wrk libluajit-5.1-2 libluajit-5.1-common
      libs=$(dirname "$(find "$dir/root" -name 'libluajit-5.1.so.2' | head -1)")
      printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$libs" "$dir/root/usr/bin/wrk" > "$launcher"
      chmod +x "$launcher"
    fi
    echo "$launcher" ;;
  edge)
    cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
    [ -x "$cargo" ] || { echo "provision: Rust's cargo is needed to build the gateway's front (gateway/edge)" >&2; exit 1; }
    # crates (Cargo.lock) fetched once into the ignored cache, then every build is offline
    export CARGO_HOME="$cache/cargo"
    manifest="$root/gateway/edge/Cargo.toml"
    "$cargo" fetch -q --locked --offline --manifest-path "$manifest" 2>/dev/null \
      || "$cargo" fetch -q --locked --manifest-path "$manifest" >&2
    CARGO_TARGET_DIR="$cache/edge/target" "$cargo" build -q --release --offline --locked \
      --manifest-path "$manifest" >&2
    echo "$cache/edge/target/release/cg-edge" ;;
  edge-floor)
    # the least a proxy on the front's crates does (gateway/edge/examples/floor.rs), for bench.edge_instructions
    cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
    [ -x "$cargo" ] || { echo "provision: Rust's cargo is needed to build gateway/edge's floor example" >&2; exit 1; }
    "$here/provision.sh" edge >/dev/null  # the crates fetched, so that the build below can stay offline
    CARGO_HOME="$cache/cargo" CARGO_TARGET_DIR="$cache/edge/target" "$cargo" build -q --release --offline --locked \
      --manifest-path "$root/gateway/edge/Cargo.toml" --example floor >&2
    echo "$cache/edge/target/release/examples/floor" ;;
  cargo-fuzz)
    cargo=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
    [ -x "$cargo" ] || { echo "provision: Rust's cargo is needed to fuzz the gateway's front" >&2; exit 1; }
    export CARGO_HOME="$cache/cargo"
    bin="$cache/cargo-tools/bin/cargo-fuzz"
    if [ ! -x "$bin" ] || [ "$("$bin" --version)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
      "$cargo" install -q --locked --version "$CARGO_FUZZ_VERSION" --root "$cache/cargo-tools" cargo-fuzz >&2
    fi
    manifest="$root/gateway/edge/fuzz/Cargo.toml"
    "$cargo" fetch -q --locked --offline --manifest-path "$manifest" 2>/dev/null \
      || "$cargo" fetch -q --locked --manifest-path "$manifest" >&2
    echo "$bin" ;;
  nginx)
    # the package's binary alone: every use runs it with a configuration of its own (-p, -c, -e, temp paths)
    dir="$cache/nginx"
    bin="$dir/root/usr/sbin/nginx"
    if [ ! -x "$bin" ]; then
      unpack_debs nginx "$cache/nginx-debs" "$dir/root" nginx
      "$bin" -v >&2 || { echo "provision: the unpacked nginx does not run (a library missing?)" >&2; exit 1; }
    fi
    echo "$bin" ;;
  chromium)
    bin=/usr/bin/chromium
    if [ ! -x "$bin" ]; then
      command -v apt-get >/dev/null || { echo "provision: apt-get is needed to install Chromium" >&2; exit 1; }
      apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-liberation >&2; }
      apt_install || { apt-get update -qq >&2 && apt_install; }
    fi
    echo "$bin" ;;
  asyncapi)
    dir="$cache/asyncapi"
    if ! cmp -s "$root/tests/asyncapi/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/@asyncapi/parser" ]; then
      command -v npm >/dev/null || { echo "provision: Node.js's npm is needed for the AsyncAPI parser" >&2; exit 1; }
      mkdir -p "$dir"
      cp "$root/tests/asyncapi/package.json" "$root/tests/asyncapi/package-lock.json" "$dir/"
      npm ci --prefix "$dir" --cache "$cache/npm" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
    fi
    echo "$dir/node_modules" ;;
  lighthouse)
    # Lighthouse for make bench (bench/lighthouse.py), pinned by bench/lighthouse/package-lock.json
    dir="$cache/lighthouse"
    if ! cmp -s "$root/bench/lighthouse/package-lock.json" "$dir/package-lock.json" || [ ! -x "$dir/node_modules/.bin/lighthouse" ]; then
      command -v npm >/dev/null || { echo "provision: Node.js's npm is needed for Lighthouse" >&2; exit 1; }
      mkdir -p "$dir"
      cp "$root/bench/lighthouse/package.json" "$root/bench/lighthouse/package-lock.json" "$dir/"
      npm ci --prefix "$dir" --cache "$cache/npm" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
    fi
    echo "$dir/node_modules/.bin/lighthouse" ;;
  helm)
    # Built as Helm's Makefile does: its version, and the Kubernetes version of its client-go as the default
    # for charts' kubeVersion checks when no cluster is asked (without these, v1.20).
    bin="$cache/helm-$HELM_VERSION-versioned/helm"
    if [ ! -x "$bin" ]; then
      command -v go >/dev/null || { echo "provision: Go is needed to build Helm" >&2; exit 1; }
      mod=$(mkdir -p "$cache/helm-src" && cd "$cache/helm-src" && GOMODCACHE="$cache/gomod" GOFLAGS=-modcacherw \
        go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
      k8s_minor=$(sed -n 's/^\tk8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$mod/go.mod")
      [ -n "$k8s_minor" ] || { echo "provision: no k8s.io/client-go version in Helm's go.mod" >&2; exit 1; }
      flags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
      for pkg in pkg/lint/rules pkg/chartutil; do
        flags="$flags -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
      done
      (cd "$mod" && GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild" GOFLAGS=-modcacherw CGO_ENABLED=0 \
        go build -trimpath -ldflags "$flags" -o "$bin" ./cmd/helm) >&2
    fi
    echo "$bin" ;;
  crds)
    dir="$cache/crds-strimzi-$STRIMZI_VERSION-mongodb-$MONGODB_OPERATOR_VERSION"
    if [ ! -f "$dir/.complete" ]; then
      command -v mvn >/dev/null || { echo "provision: Maven (mvn) is needed to fetch Strimzi's CRDs" >&2; exit 1; }
      command -v go >/dev/null || { echo "provision: Go is needed to fetch the MongoDB operator's CRD" >&2; exit 1; }
      mkdir -p "$dir/strimzi" "$dir/mongodb"
      mvn -q -B -Dmaven.repo.local="$cache/m2" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="io.strimzi:api:$STRIMZI_VERSION:jar:tests" -DoutputDirectory="$dir" -Dtransitive=false >&2
      python3 - "$dir/api-$STRIMZI_VERSION-tests.jar" "$dir/strimzi" <<'PY'
import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("crds/v1/") and n.endswith(".yaml"):
            (pathlib.Path(sys.argv[2]) / pathlib.PurePath(n).name).write_bytes(z.read(n))
PY
      mod=$(cd "$dir" && GOMODCACHE="$cache/gomod" GOFLAGS=-modcacherw \
        go mod download -json "github.com/mongodb/mongodb-kubernetes-operator@$MONGODB_OPERATOR_VERSION" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
      cp "$mod"/config/crd/bases/*.yaml "$dir/mongodb/"
      touch "$dir/.complete"
    fi
    echo "$dir" ;;
  compose-spec)
    file="$cache/compose-spec-$COMPOSE_GO_VERSION/compose-spec.json"
    if [ ! -f "$file" ]; then
      command -v go >/dev/null || { echo "provision: Go is needed to fetch the Compose Specification" >&2; exit 1; }
      mkdir -p "$(dirname "$file")"
      mod=$(cd "$(dirname "$file")" && GOMODCACHE="$cache/gomod" GOFLAGS=-modcacherw \
        go mod download -json "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION" \
        | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
      cp "$mod/schema/compose-spec.json" "$file"
    fi
    echo "$file" ;;
  promtool)
    dir="$cache/prometheus"
    bin="$dir/root/usr/bin/promtool"
    if [ ! -x "$bin" ]; then
      unpack_debs promtool "$dir/debs" "$dir/root" prometheus
    fi
    echo "$bin" ;;
  *) echo "provision: unknown backend $1" >&2; exit 2 ;;
esac
