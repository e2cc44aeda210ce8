#!/usr/bin/env bash
# Start Kafka MirrorMaker 2 (dedicated mode) natively, from the broker's own Maven resolution
# (deploy/native/kafka-pom.xml resolves connect-mirror with it), replicating every region's event topics
# to every other region, both ways, with the default replication policy: region ith5's facilities.events
# appears in ie05's cluster as ith5.facilities.events. Only a region's own topics are replicated (the
# TOPICS pattern has no dot before ".events", so a replica such as ie05.facilities.events is never sent
# on: no cycles, no second hops). Heartbeats and checkpoints are on; consumer-group offsets are not synced
# (each region's groups feed that region's own projections: a partner's position must never move them).
# usage: deploy/native/mirrormaker.sh DATA_DIR ALIAS=BOOTSTRAP ALIAS=BOOTSTRAP [...]
#   e.g. deploy/native/mirrormaker.sh /tmp/mm2 ie05=127.0.0.1:9092 ith5=127.0.0.1:9192
# env: TOPICS (a Java regex of the topics to replicate, default [a-z0-9_-]+\.events),
#      MM2_CLUSTERS (the ALIAS=BOOTSTRAP list, space-separated, when none are given as arguments; an
#        alias is a region code, lower-cased here: IE05 and ie05 are one alias),
#      MM2_INTO (an alias: replicate only into that cluster, from every other one; a region runs its own
#        MirrorMaker pulling its partners' topics, as the Compose file and the Helm chart do; default:
#        every direction), MM2_REST_LISTENER (e.g. http://127.0.0.1:8083: start MirrorMaker's internal
#        REST server there, something a health check can reach), KAFKA_LIBS (a folder of Kafka's and
#        connect-mirror's jars, as in Kafka's image; default: resolved by provision.sh),
#      MM2_PROPERTIES_FILE (appended to the generated properties: each cluster's security settings,
#        e.g. ith5.security.protocol=SSL, ith5.ssl.truststore.location=...), MM2_DRY_RUN=1 (print the
#        properties and stop),
#      MM2_REPLICATION_FACTOR (of MirrorMaker's own topics, default 1), MM2_HEAP (default 384m)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:?data dir}; shift
# shellcheck disable=SC2086  # MM2_CLUSTERS is a word list on purpose
[ "$#" -gt 0 ] || set -- ${MM2_CLUSTERS:-}
[ "$#" -ge 2 ] || { echo "mirrormaker.sh: at least two ALIAS=BOOTSTRAP clusters" >&2; exit 2; }
into=${MM2_INTO:-}
into=${into,,}
libs=${KAFKA_LIBS:-}
[ -n "$libs" ] || libs=$("$here/provision.sh" kafka)
topics=${TOPICS:-'[a-z0-9_-]+\.events'}
rf=${MM2_REPLICATION_FACTOR:-1}
mkdir -p "$data"
props="$data/mm2.properties"
aliases=()
{
  for c in "$@"; do
    alias=${c%%=*}; alias=${alias,,}; bootstrap=${c#*=}
    [[ "$alias" =~ ^[a-z0-9]+$ ]] || { echo "mirrormaker.sh: alias $alias: letters and digits only" >&2; exit 2; }
    aliases+=("$alias")
    [[ "$alias" != "$into" ]] || found_into=1
    echo "$alias.bootstrap.servers=$bootstrap"
    # lag: fetches answer within 100 ms, the producer sends at once
    echo "$alias.consumer.fetch.max.wait.ms=100"
    echo "$alias.producer.linger.ms=0"
    # each herder's worker finds the connectors by their ServiceLoader manifests, not by scanning ~100 jars
    echo "$alias.plugin.discovery=service_load"
  done
  echo "clusters=$(IFS=,; echo "${aliases[*]}")"
  for a in "${aliases[@]}"; do
    for b in "${aliases[@]}"; do
      [ "$a" = "$b" ] && continue
      if [ -n "$into" ] && [ "$b" != "$into" ]; then
        # pulling only: no herder writes heartbeats or checkpoints into a partner's cluster
        echo "$a->$b.emit.heartbeats.enabled=false"
        echo "$a->$b.emit.checkpoints.enabled=false"
        continue
      fi
      echo "$a->$b.enabled=true"
      echo "$a->$b.topics=$topics"
    done
  done
  if [ -n "$into" ] && [ -z "${found_into:-}" ]; then
    echo "mirrormaker.sh: MM2_INTO=$into is none of the clusters given" >&2; exit 2
  fi
  # pulling only: the offset-sync records stay in this region's cluster too (KIP-716), never the partner's
  [ -z "$into" ] || echo "offset-syncs.topic.location=target"
  if [ -n "${MM2_REST_LISTENER:-}" ]; then
    echo "dedicated.mode.enable.internal.rest=true"
    echo "listeners=$MM2_REST_LISTENER"
  fi
  cat <<PROPS
replication.policy.class=org.apache.kafka.connect.mirror.DefaultReplicationPolicy
groups=.*
emit.heartbeats.enabled=true
emit.heartbeats.interval.seconds=1
emit.checkpoints.enabled=true
emit.checkpoints.interval.seconds=5
sync.group.offsets.enabled=false
sync.topic.configs.enabled=true
sync.topic.configs.interval.seconds=10
sync.topic.acls.enabled=false
refresh.topics.interval.seconds=2
refresh.groups.interval.seconds=10
plugin.discovery=service_load
offset.flush.interval.ms=1000
tasks.max=1
replication.factor=$rf
checkpoints.topic.replication.factor=$rf
heartbeats.topic.replication.factor=$rf
offset-syncs.topic.replication.factor=$rf
offset.storage.replication.factor=$rf
status.storage.replication.factor=$rf
config.storage.replication.factor=$rf
PROPS
  if [ -n "${MM2_PROPERTIES_FILE:-}" ]; then
    echo "# from $MM2_PROPERTIES_FILE"
    cat "$MM2_PROPERTIES_FILE"
  fi
} > "$props"
if [ -n "${MM2_DRY_RUN:-}" ]; then cat "$props"; exit 0; fi
cat > "$data/log4j2.properties" <<LOG
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
logger.mm2.name=org.apache.kafka.connect.mirror.MirrorMaker
logger.mm2.level=INFO
LOG
exec java "-Xms128m" "-Xmx${MM2_HEAP:-384m}" -XX:+UseSerialGC -Djava.awt.headless=true \
  "-Dlog4j2.configurationFile=$data/log4j2.properties" -cp "$libs/*" \
  org.apache.kafka.connect.mirror.MirrorMaker "$props"
