#!/usr/bin/env bash
# make bench: the ingest benchmark of BENCHMARKS.md, end to end on this
# machine. Starts its own Redis (AOF everysec, as in production) and
# ingestors on free ports in a temp dir, runs bench/loadgen against one and
# then two ingestors, with the one-core verify loop in the same run.
# Then the sim, the orchestrator (a burst, then steady ORCH_RATES for
# ORCH_SECONDS each), the sim's media and the relay's push latency
# (AGENTS=, RATE=, SECONDS=) and a big floor's agents (bench/agentstorm.mjs:
# the dashboard's list, a storm of presence notices; AGENTS=, STORM_RATE=,
# RELAY_BIN=). INGEST=0, SIM=0, MEDIA=0, RELAY=0 skip a
# section.
# Usage: scripts/bench.sh <loadgen binary>; CALLS=, CONNS=, THREADS= (per
# ingestor; the ingestors also take CALLSYNC_INGEST_* from the environment,
# e.g. CALLSYNC_INGEST_COMMITTERS=1 for one committer), RATES= (paced runs, webhooks/s), WRK_CONNS= (wrk closed
# loops), CACHE_PAIRS= (cache off/on pairs), WRK_SUSTAIN= (seconds of the
# sustained closed loop; 0 skips), WRK_PACED= (seconds of the loop held
# near 10 000/s; 0 skips), WRK_HELD_CONNS= (its connections) change the
# load; REDIS_ARGS= adds redis-server settings. To compare two builds side
# by side: INGESTOR= (the ingestor binary, default bin/callsync-ingestor;
# ORCHESTRATOR= likewise for the orchestrator's section)
# and STOP_AFTER=sustained (the run ends after the sustained, held and
# open loops), alternating the builds. OPEN_SECONDS=, OPEN_RATE=,
# OPEN_CONNS= shape the open loop (below); OPEN_LOG=FILE keeps its
# per-webhook times (bench/openloop --log).
# WIRE=1 captures the held loop and reports it as the wire saw it (below).
# WRK_NICE=<n> runs wrk at that niceness (the sender's share of the two
# cores against the server's, for the tail); OPEN_NICE=<n> the open loop's
# sender likewise (negative: it sends on time, as Telnyx's own machines
# would, and the queueing is the server's).
# PERF_OUT=<file> records the ingestor with perf (call graphs) during each
# wrk loop, into that file (the last loop's profile is what is left).
set -euo pipefail
loadgen=$1
wirelat=$(dirname "$loadgen")/wirelat
openloop=$(dirname "$loadgen")/openloop
simload=${2:-}
orchload=${3:-}
calls=${CALLS:-10000}
conns=${CONNS:-32}
dir=$(mktemp -d /tmp/callsync-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# A port nobody listens on, below the kernel's range for outgoing
# connections: one picked inside it could be taken by the loops' own
# connections before the service binds it (the bus and the sim once failed
# to start so, after the ingest loops).
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p span=$((ephemeral_low - 10000))
  [ "$span" -gt 1000 ] || span=20000
  while :; do
    p=$((10000 + RANDOM % span))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}
wait_http() {
  for _ in $(seq 200); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "bench: $1 never came up; the logs:" >&2
  tail -n 20 "$dir"/*.log >&2 || true
  return 1
}

head -c 32 /dev/urandom > "$dir/seed"
pk=$("$loadgen" --seed-file "$dir/seed" --public-key)
rport=$(free_port)
# Redis as callsync ships it (scripts/run.sh, deploy/docker-compose.yml);
# REDIS_ARGS: more redis-server settings to weigh (e.g. its AOF rewrite policy)
# shellcheck disable=SC2086
redis-server --port "$rport" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" --dir "$dir" --appendonly yes \
  --appendfsync everysec --save "" --rdbcompression no --auto-aof-rewrite-percentage 200 \
  --daemonize no ${REDIS_ARGS:-} > "$dir/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$rport" ping > /dev/null 2>&1; do sleep 0.05; done

[ "${REDIS_UNIX:-0}" = 1 ] && REDIS_URL="unix://$dir/redis.sock"
start_ingestor() { # port threads [VAR=value...]
  local port=$1 threads=$2
  env "${@:3}" CALLSYNC_REDIS_URL="${REDIS_URL:-redis://127.0.0.1:$rport/0}" CALLSYNC_INGEST_PORT="$port" \
    CALLSYNC_INGEST_THREADS="$threads" TELNYX_PUBLIC_KEY="$pk" \
    CALLSYNC_BUS_PUB="tcp://127.0.0.1:$(free_port)" \
    "${INGESTOR:-bin/callsync-ingestor}" > "$dir/ingestor-$port.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/healthz"
}

# The same closed loop with wrk sending (bench/wrk-bodies.lua): it costs
# the machine about half what libcurl does per request, so more of the two
# cores go to the ingestor and Redis. Webhooks are counted as the ingestor
# stored them (/metrics), CPU per webhook read from /proc around the run.
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
ack5='callsync_webhook_ack_seconds_bucket{le="0.005"}'
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# context switches, voluntary and not, of every thread of a process
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n + 0}'; }
# WIRE=1: the held loop as the wire saw it (bench/wirelat on a tcpdump of
# it): the server's answer time apart from the sender's own stalls, inside
# and outside Redis's AOF rewrites (their windows from Redis's log, those
# that started after the loop did). tcpdump needs root; its cost is the
# loop's too, so compare WIRE=1 runs with WIRE=1 runs.
wire_report() { # port loop-start (epoch s)
  awk '/Background append only file rewriting started/ {s = $2" "$3" "$4" "$5}
    /Background AOF rewrite finished/ && s {print s "|" $2" "$3" "$4" "$5; s = ""}' "$dir/redis.log" |
    while IFS='|' read -r a b; do echo "$(date -d "$a" +%s.%3N) $(date -d "$b" +%s.%3N)"; done |
    awk -v t0="$2" '$1 >= t0' > "$dir/rewrites"
  grep -h "dropped by kernel" "$dir/tcpdump.err" | grep -v "^0 " || true
  [ -s "$dir/rewrites" ] || echo "no AOF rewrite during the loop"
  "$wirelat" --port "$1" --windows "$dir/rewrites" "$dir/wire.pcap"
  rm -f "$dir/wire.pcap"
}
# The counters a loop's figures are differences of, read before and after
# it: stored, batches, batched, cache hits, stored within 5 ms, stored in
# all (the ingestor's /metrics), then the ingestor's and Redis's CPU ticks
# and context switches.
counters() { # port ingestor-pid
  echo "$(metric "$1" 'callsync_webhooks_total{outcome="stored"}') $(metric "$1" callsync_ingest_batches_total)" \
    "$(metric "$1" callsync_ingest_batched_total) $(metric "$1" callsync_ingest_cache_hits_total)" \
    "$(metric "$1" "$ack5") $(metric "$1" callsync_webhook_ack_seconds_count) $(ticks "$2") $(ticks "$rpid")" \
    "$(switches "$2") $(switches "$rpid")"
}
# "<label>: N webhooks/s stored (N in S s), <ack>; batch...; CPU per
# webhook...", then the ingestor's own clock (callsync_webhook_ack_seconds:
# whole body in hand to stored, on the committer): which share of the tail
# is the server's work, and which is queueing outside it (the sockets, the
# worker's wake-up to send, the sender's own scheduling).
loop_report() { # label seconds ack counters-before counters-after
  awk -v label="$1" -v secs="$2" -v ack="$3" -v before="$4" -v after="$5" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      split(before, x); split(after, y); for (i = 1; i <= 10; i++) d[i] = y[i] - x[i]
      s = d[1]; if (!s || !secs) { print label ": nothing stored"; exit }
      printf "%s: %.0f webhooks/s stored (%d in %ss)%s; ", label, s / secs, s, secs, ack == "" ? "" : ", " ack
      printf "batch %.1f webhooks, %.0f%% skipped resolve (cache); ", (d[2] ? d[3] / d[2] : 0), (d[3] ? 100 * d[4] / d[3] : 0)
      printf "CPU per webhook: ingestor %.0f us, redis %.0f us; ", d[7] / hz / s * 1e6, d[8] / hz / s * 1e6
      printf "context switches per webhook: ingestor %.2f, redis %.2f\n", d[9] / s, d[10] / s
      if (d[6]) printf "ingestor clock: %.2f%% of webhooks stored within 5 ms of their body, %d over\n", 100 * d[5] / d[6], d[6] - d[5] }'
}
port_pid() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
rpid=$(port_pid "$rport")
wrk_run() { # first-call port calls connections [window [seconds]]
  local first=$1 port=$2 n=$3 c=$4 window=${5:-0} secs_run=${6:-${WRK_SECONDS:-5}} ipid
  command -v wrk > /dev/null || { echo "wrk: not installed (scripts/deps.sh)"; return 0; }
  ipid=$(port_pid "$port")
  "$loadgen" --seed-file "$dir/seed" --calls "$n" --first-call "$first" --window "$window" \
    --write-bodies "$dir/bodies"
  local before after
  before=$(counters "$port" "$ipid")
  local perf_pid=
  if [ -n "${PERF_OUT:-}" ]; then
    perf record -q -F 1999 -g -p "$ipid" -o "$PERF_OUT" -- sleep "$secs_run" 2> /dev/null &
    perf_pid=$!
  fi
  local wire_pid='' t0
  t0=$(date +%s.%N)
  if [ "${WIRE:-0}" = 1 ] && [ -n "${think_ms:-}" ]; then
    # the loop's packets, headers and the first bytes: bench/wirelat reads them
    tcpdump -i lo -s 128 -B 262144 -w "$dir/wire.pcap" "tcp port $port" 2> "$dir/tcpdump.err" &
    wire_pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$dir/tcpdump.err" && break; sleep 0.05; done
  fi
  BODIES="$dir/bodies" WRK_THREADS=1 WRK_THINK_MS=${think_ms:-0} nice -n "${WRK_NICE:-0}" wrk -s bench/wrk-bodies.lua -t 1 -c "$c" \
    -d "${secs_run}s" --latency "http://127.0.0.1:$port/" > "$dir/wrk.out" 2>&1
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  [ -z "$wire_pid" ] || { kill -INT "$wire_pid"; wait "$wire_pid" || true; }
  after=$(counters "$port" "$ipid")
  loop_report "wrk closed loop, $c connections" \
    "$(awk '/requests in/ {sub("s,", "", $4); print $4}' "$dir/wrk.out")" \
    "ack p50 $(awk '$1 == "50%" {print $2}' "$dir/wrk.out") p99 $(awk '$1 == "99%" {print $2}' "$dir/wrk.out")" \
    "$before" "$after"
  grep -h "wrk-bodies" "$dir/wrk.out"
  [ -z "$wire_pid" ] || wire_report "$port" "$t0"
  rm -f "$dir/bodies"
}
# An open loop (bench/openloop): webhooks due on a Poisson schedule at RATE
# whatever the answers, on C connections, latency counted from when each
# was due. The goal's own terms, as Telnyx sends: no coordinated omission
# to correct for, and no bursts of the sender's making.
open_run() { # first-call calls port rate seconds connections
  local first=$1 n=$2 port=$3 rate=$4 secs=$5 c=$6 ipid before after
  ipid=$(port_pid "$port")
  "$loadgen" --seed-file "$dir/seed" --calls "$n" --first-call "$first" \
    --window 2000 --write-bodies "$dir/bodies"
  before=$(counters "$port" "$ipid")
  nice -n "${OPEN_NICE:-0}" "$openloop" --port "$port" --bodies "$dir/bodies" --rate "$rate" --seconds "$secs" \
    --connections "$c" ${OPEN_LOG:+--log "$OPEN_LOG"} > "$dir/open.out"
  after=$(counters "$port" "$ipid")
  cat "$dir/open.out"
  loop_report "  the ingestor meanwhile" "$(sed -n 's/.* answered in \([0-9.]*\) s;.*/\1/p' "$dir/open.out")" \
    "" "$before" "$after"
  rm -f "$dir/bodies"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/Mem:/{print $2}') GiB; $(redis-server --version | cut -d' ' -f1-3)"
if [ "${INGEST:-1}" = 1 ]; then
echo "load: $calls calls x 6 events, $conns keep-alive connections, Redis AOF everysec"
"$loadgen" --seed-file "$dir/seed" --verify-only

p1=$(free_port)
start_ingestor "$p1" "${THREADS:-2}"
echo "-- one ingestor (${THREADS:-2} threads, ${CALLSYNC_INGEST_COMMITTERS:-2} committers)"
"$loadgen" --seed-file "$dir/seed" --ports "$p1" --calls "$calls" --connections "$conns" \
  --redis-port "$rport"
# Closed loop with wrk at several connection counts: past what keeps the
# ingestor busy, more connections only queue (WRK_CONNS). Each wrk loop
# gets 3 000 calls per second it runs (18 000 webhooks/s, half again the
# fastest run seen), so it does not run out before its time is up; wrk's
# closing line says when one did. They take the calls CALLS at a time, the
# number in progress at once that these loops have always had.
per_s=3000
wrk_calls=$((${WRK_SECONDS:-5} * per_s))
first=1000000
for c in ${WRK_CONNS:-8 16 32}; do
  wrk_run "$first" "$p1" "$wrk_calls" "$c" "$calls"
  first=$((first + wrk_calls))
done
# Sustained: one closed loop of WRK_SUSTAIN seconds (default 30; 0 skips)
# at 16 connections, long enough to take in Redis's AOF rewrites (a fork,
# and a child busy for a second or more, every few seconds at this write
# rate), over calls 2 000 at a time (each call's six events within its
# window, as calls overlap in production).
if [ "${WRK_SUSTAIN:-30}" -gt 0 ]; then
  n=$((${WRK_SUSTAIN:-30} * per_s))
  echo -n "sustained ${WRK_SUSTAIN:-30} s, redis $(redis-cli -p "$rport" info memory | awk -F: '/^used_memory_human/ {sub("\r", ""); print $2}') at the start: "
  aof0=$(redis-cli -p "$rport" info persistence | awk -F: '/^aof_rewrites:/ {print $2+0}')
  # Redis's own record of where its main thread stalled (fork, AOF write,
  # fsync...), to tell its stalls from the rest of the tail
  redis-cli -p "$rport" config set latency-monitor-threshold 2 > /dev/null
  redis-cli -p "$rport" latency reset > /dev/null
  # and the commands that took 2 ms or more
  redis-cli -p "$rport" config set slowlog-log-slower-than 2000 > /dev/null
  redis-cli -p "$rport" slowlog reset > /dev/null
  wrk_run "$first" "$p1" "$n" 16 2000 "${WRK_SUSTAIN:-30}"
  first=$((first + n))
  echo "AOF rewrites during it: $(($(redis-cli -p "$rport" info persistence | awk -F: '/^aof_rewrites:/ {print $2+0}') - aof0))"
  stalls=$(redis-cli -p "$rport" --raw latency latest | awk 'NR % 4 == 1 {ev = $1} NR % 4 == 3 {last = $1}
    NR % 4 == 0 {printf "%s%s %s, %s", sep, ev, last, $1; sep = "; "}')
  delayed=$(redis-cli -p "$rport" info persistence | awk -F: '/^aof_delayed_fsync:/ {print $2+0}')
  fork=$(redis-cli -p "$rport" info stats | awk -F: '/^latest_fork_usec:/ {print $2+0}')
  echo "redis main-thread stalls of 2 ms or more (event: latest, worst ms): ${stalls:-none};" \
    "AOF writes delayed by fsync: $delayed; last fork ${fork} us"
  # the five slowest: time (us) and the first two words (for a script,
  # EVALSHA and its sha: store.c's scripts are named in its log at start)
  echo "commands of 2 ms or more: $(redis-cli -p "$rport" slowlog len)," \
    "the slowest: $(redis-cli -p "$rport" --json slowlog get 128 | node -e '
const s = JSON.parse(require("fs").readFileSync(0, "utf8")).sort((a, b) => b[2] - a[2]).slice(0, 5);
console.log(s.map((e) => `${e[2]} us ${e[3].slice(0, 2).join(" ")}`).join("; ") || "none");')"
fi
# The goal's own terms: 10 000 webhooks/s held for 30 s, not the most the
# machine takes. Each of WRK_HELD_CONNS (default 27) connections waits 1 ms
# after each answer (wrk can wait whole ms only), which holds the rate near
# 10 000/s; the rate printed is what it held. Not an open loop: while the
# server stalls, the sender waits too. wrk makes up for that when it
# reports (stats_correct: an answer that took k times a connection's mean
# interval adds the k-1 answers a sender on a schedule would have waited
# for), but only in part: the open loop below is the one to hold against
# the goal. WIRE=1's figures are not corrected at all.
if [ "${WRK_PACED:-30}" -gt 0 ]; then
  n=$((${WRK_PACED:-30} * per_s))
  echo -n "held near 10 000/s, ${WRK_PACED:-30} s: "
  think_ms=1 wrk_run "$first" "$p1" "$n" "${WRK_HELD_CONNS:-27}" 2000 "${WRK_PACED:-30}"
  first=$((first + n))
fi
# The same rate as an open loop: OPEN_SECONDS (default 30; 0 skips) at
# OPEN_RATE (default 10 000/s) over OPEN_CONNS connections (default 64).
if [ "${OPEN_SECONDS:-30}" -gt 0 ]; then
  n=$(((${OPEN_RATE:-10000} * ${OPEN_SECONDS:-30} + 5) / 6)) # calls of six webhooks
  open_run "$first" "$n" "$p1" "${OPEN_RATE:-10000}" "${OPEN_SECONDS:-30}" "${OPEN_CONNS:-64}"
  first=$((first + n))
fi
[ "${STOP_AFTER:-}" = sustained ] && exit 0
# The call cache side by side: the same binary with CALLSYNC_INGEST_CACHE=0
# on the same Redis, alternating (CACHE_PAIRS rounds; 0 skips).
if [ "${CACHE_PAIRS:-2}" -gt 0 ]; then
  p0=$(free_port)
  start_ingestor "$p0" "${THREADS:-2}" CALLSYNC_INGEST_CACHE=0
  for _ in $(seq "${CACHE_PAIRS:-2}"); do
    echo -n "cache off: "; wrk_run "$first" "$p0" "$wrk_calls" "$conns" "$calls"; first=$((first + wrk_calls))
    echo -n "cache on:  "; wrk_run "$first" "$p1" "$wrk_calls" "$conns" "$calls"; first=$((first + wrk_calls))
  done
  kill "$(ss -ltnpH "sport = :$p0" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)"
fi

[ "${REDIS_STATS:-0}" = 1 ] && redis-cli -p "$rport" info commandstats | grep -E 'evalsha|cmdstat_get|cmdstat_set'
# every run sends calls of its own: a repeated event id would only test dedupe
run=1
for r in ${RATES:-2000 4000}; do
  "$loadgen" --seed-file "$dir/seed" --ports "$p1" --calls "$calls" --connections "$conns" \
    --rate "$r" --first-call $((run * calls))
  run=$((run + 1))
done

redis-cli -p "$rport" flushall > /dev/null
p2=$(free_port)
start_ingestor "$p2" "${THREADS:-2}"
echo "-- two ingestors (${THREADS:-2} threads, ${CALLSYNC_INGEST_COMMITTERS:-2} committers each)"
"$loadgen" --seed-file "$dir/seed" --ports "$p1,$p2" --calls "$calls" --connections "$conns"
for r in ${RATES:-2000 4000}; do
  "$loadgen" --seed-file "$dir/seed" --ports "$p1,$p2" --calls "$calls" --connections "$conns" \
    --rate "$r" --first-call $((run * calls))
  run=$((run + 1))
done
"$loadgen" --seed-file "$dir/seed" --verify-only
fi

# The sim: call setups/s with their webhooks delivered (to simload's own
# receiver, so the ingestor's limits do not count).
if [ -n "$simload" ] && [ "${SIM:-1}" = 1 ]; then
  sport=$(free_port)
  hport=$(free_port)
  CALLSYNC_SIM_PORT=$sport CALLSYNC_SIM_WEBHOOK_URL="http://127.0.0.1:$hport/" \
    CALLSYNC_LOG_LEVEL=warn bin/callsync-sim > "$dir/sim.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$sport/healthz"
  curl -sf -H 'Content-Type: application/json' -d \
    '{"number":"+15550199999","ring_ms":0,"answer":true,"hangup_after_ms":200}' \
    "http://127.0.0.1:$sport/sim/numbers" > /dev/null
  echo "-- callsync-sim"
  "$simload" --sim-port "$sport" --receiver-port "$hport" --calls "${SIM_CALLS:-20000}" \
    --connections 16
fi

# The orchestrator: reaction time and call setups through the whole stack
# (bus, ingestor, sim, orchestrator, timer) on this machine.
if [ -n "$orchload" ]; then
  redis-cli -p "$rport" flushall > /dev/null
  bpub="tcp://127.0.0.1:$(free_port)"
  bsub="tcp://127.0.0.1:$(free_port)"
  iport=$(free_port)
  sport=$(free_port)
  export CALLSYNC_REDIS_URL="redis://127.0.0.1:$rport/0" CALLSYNC_BUS_PUB=$bpub \
    CALLSYNC_BUS_SUB=$bsub CALLSYNC_LOG_LEVEL=warn
  bin/callsync-bus > "$dir/bus.log" 2>&1 &
  pids+=($!)
  CALLSYNC_INGEST_PORT=$iport TELNYX_PUBLIC_KEY=$pk bin/callsync-ingestor \
    > "$dir/ingestor-orch.log" 2>&1 &
  pids+=($!)
  CALLSYNC_SIM_PORT=$sport CALLSYNC_SIM_WEBHOOK_URL="http://127.0.0.1:$iport/webhooks/telnyx" \
    CALLSYNC_SIM_SIGNING_SEED=$(base64 -w0 "$dir/seed") bin/callsync-sim > "$dir/sim-orch.log" 2>&1 &
  pids+=($!)
  export TELNYX_API_BASE="http://127.0.0.1:$sport/v2" TELNYX_API_KEY=sim-key
  CALLSYNC_ORCH_PORT=$(free_port) TELNYX_CONNECTION_ID=1001 CALLSYNC_CALLER_ID=+15550009999 \
    "${ORCHESTRATOR:-bin/callsync-orchestrator}" > "$dir/orchestrator.log" 2>&1 &
  pids+=($!)
  CALLSYNC_TIMER_PORT=$(free_port) bin/callsync-timer > "$dir/timer.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$iport/healthz"
  wait_http "http://127.0.0.1:$sport/healthz"
  bin/callsync-ctl agent set alice --sip-user alice01 --status available > /dev/null
  echo "-- callsync-orchestrator"
  "$orchload" --redis-url "$CALLSYNC_REDIS_URL" --bus-pub "$bpub" --agent alice \
    --calls "${ORCH_CALLS:-300}"
  # Steady rates: the agent's phone and the customer answer at once and the
  # customer hangs up 2 s later, so what is measured is the orchestrator's
  # work per call (two dials, a hangup, eight webhooks), not scripted rings.
  for n in '"sip:alice01@sip.telnyx.com","ring_ms":0' '"+15550100077","ring_ms":0,"hangup_after_ms":2000'; do
    curl -fsS -H 'Authorization: Bearer sim-key' -H 'Content-Type: application/json' \
      -d "{\"number\":$n}" "http://127.0.0.1:$sport/sim/numbers" > /dev/null
  done
  for rate in ${ORCH_RATES:-25 50 100 200}; do
    "$orchload" --redis-url "$CALLSYNC_REDIS_URL" --bus-pub "$bpub" --agent alice \
      --to +15550100077 --rate "$rate" --seconds "${ORCH_SECONDS:-10}" || true
  done
fi

# The sim's far-end media with the real SDK in chromium (issue 4), in a
# network namespace with only loopback.
if [ "${MEDIA:-1}" = 1 ]; then
  echo "-- callsync-sim media (real SDK in chromium)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error > /dev/null)
  scripts/netns.sh node bench/media.mjs
  echo "-- the softphone through the whole stack (real SDK in chromium)"
  scripts/netns.sh node bench/softphone.mjs
fi

# The relay (issue 6): webhook -> WS frame with AGENTS softphone sockets at
# RATE webhooks/s (a WS load client, not browsers).
if [ "${RELAY:-1}" = 1 ]; then
  echo "-- callsync-relay (webhook -> WS frame)"
  LOADGEN=$loadgen node --experimental-websocket --no-warnings bench/relayload.mjs
  echo "-- callsync-relay: a big floor's agents (the dashboard's list, a storm of presence changes)"
  STORM=$(dirname "$loadgen")/agentstorm node --experimental-websocket --no-warnings bench/agentstorm.mjs
fi
