#!/usr/bin/env bash
# Provision native backends into the repository's ignored .cache/ folder, once; prints what was asked for.
#   provision.sh kafka     -> prints the folder holding Kafka's runtime classpath (jars from Maven Central)
#   provision.sh ferretdb  -> prints the path of a FerretDB binary (deploy/native/ferretdb, built with go)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka-pom.xml")
FERRETDB_VERSION=$(sed -n 's:^require github.com/FerretDB/FerretDB \(v[0-9.]*\)$:\1:p' "$here/ferretdb/go.mod")
case "${1:?kafka|ferretdb}" in
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
  *) echo "provision: unknown backend $1" >&2; exit 2 ;;
esac
