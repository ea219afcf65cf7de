#!/usr/bin/env bash
# make run: the local callsync stack, in the foreground. Ctrl-C (or
# `make stop` from another terminal) stops all of it.
#
# State lives in .run/: Redis data (AOF), a dev webhook signing keypair,
# logs, pids. Redis is our own on a unix socket unless CALLSYNC_REDIS_URL
# points elsewhere, so a system Redis on 6379 is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
state=$PWD/.run
mkdir -p "$state"

stop_all() {
  [ -f "$state/pids" ] || return 0
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$state/pids"
  rm -f "$state/pids"
}
if [ "${1:-}" = stop ]; then stop_all; exit 0; fi
if [ -f "$state/pids" ]; then
  echo "callsync: a previous run is still up (or died); stopping it first" >&2
  stop_all
fi
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

start() { # name, then the command; logs to .run/<name>.log
  local name=$1; shift
  "$@" > "$state/$name.log" 2>&1 &
  echo $! >> "$state/pids"
}
wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 100); do "$@" > /dev/null 2>&1 && return 0; sleep 0.1; done
  echo "callsync: $what did not come up; see $state/*.log" >&2
  exit 1
}

if [ -z "${CALLSYNC_REDIS_URL:-}" ]; then
  start redis redis-server --port 0 --unixsocket "$state/redis.sock" --dir "$state" \
    --appendonly yes --appendfsync everysec --save "" --rdbcompression no \
    --auto-aof-rewrite-percentage 200
  export CALLSYNC_REDIS_URL="unix://$state/redis.sock"
  wait_for Redis redis-cli -s "$state/redis.sock" ping
fi

# A dev signing identity, made once: the sim signs with the seed, the
# ingestor checks with the public key. For real Telnyx, set
# TELNYX_PUBLIC_KEY to your account's key instead.
[ -f "$state/keys.json" ] || bin/callsync-ctl keypair > "$state/keys.json"
export TELNYX_PUBLIC_KEY=${TELNYX_PUBLIC_KEY:-$(sed -n 's/.*"public_key": "\(.*\)".*/\1/p' "$state/keys.json")}
export CALLSYNC_SIM_SIGNING_SEED=${CALLSYNC_SIM_SIGNING_SEED:-$(sed -n 's/.*"seed": "\(.*\)".*/\1/p' "$state/keys.json")}
ingest_port=${CALLSYNC_INGEST_PORT:-8081}

sim_port=${CALLSYNC_SIM_PORT:-8090}
export CALLSYNC_SIM_WEBHOOK_URL=${CALLSYNC_SIM_WEBHOOK_URL:-http://127.0.0.1:$ingest_port/webhooks/telnyx}

# The orchestrator talks to the local sim unless TELNYX_API_BASE says otherwise.
export TELNYX_API_BASE=${TELNYX_API_BASE:-http://127.0.0.1:$sim_port/v2}
export TELNYX_API_KEY=${TELNYX_API_KEY:-${CALLSYNC_SIM_API_KEY:-sim-key}}
export TELNYX_CONNECTION_ID=${TELNYX_CONNECTION_ID:-${CALLSYNC_SIM_CONNECTION_ID:-1001}}
export CALLSYNC_CALLER_ID=${CALLSYNC_CALLER_ID:-+15550009999}

start bus bin/callsync-bus
start ingestor bin/callsync-ingestor
start sim bin/callsync-sim
start orchestrator bin/callsync-orchestrator
start timer bin/callsync-timer
export CALLSYNC_API_KEY=${CALLSYNC_API_KEY:-dev-crm-key-change-me}
export CALLSYNC_RTC_HOST=${CALLSYNC_RTC_HOST:-ws://127.0.0.1:$sim_port}
relay_port=${CALLSYNC_RELAY_PORT:-8080}
start relay bin/callsync-relay
wait_for "the ingestor (port $ingest_port)" curl -sf "http://127.0.0.1:$ingest_port/healthz"
wait_for "the sim (port $sim_port)" curl -sf "http://127.0.0.1:$sim_port/healthz"
wait_for "the orchestrator" curl -sf "http://127.0.0.1:${CALLSYNC_ORCH_PORT:-8082}/healthz"
wait_for "the relay (port $relay_port)" curl -sf "http://127.0.0.1:$relay_port/healthz"
# a demo agent, so `callsync-ctl dial` works at once
# The demo agent alice: against the sim she gets a telephony credential (so
# her softphone's SDK can log in, and calls to her SIP URI ring it); against
# real Telnyx set her credential yourself (README: Pointing it at real Telnyx).
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
if [ "$TELNYX_API_BASE" = "http://127.0.0.1:$sim_port/v2" ]; then
  cred=$(curl -sf -X POST -H "Authorization: Bearer $TELNYX_API_KEY" -H 'Content-Type: application/json' \
    -d "{\"connection_id\":\"$TELNYX_CONNECTION_ID\",\"name\":\"alice\"}" "$TELNYX_API_BASE/telephony_credentials")
  bin/callsync-ctl agent set alice --sip-user "$(echo "$cred" | json_field sip_username)" --name Alice \
    --status available --credential "$(echo "$cred" | json_field id)" > /dev/null
else
  bin/callsync-ctl agent set alice --sip-user alice01 --name Alice --status available > /dev/null
fi
token=$(curl -sf -X POST -H "Authorization: Bearer $CALLSYNC_API_KEY" \
  "http://127.0.0.1:$relay_port/v1/agents/alice/token" | json_field token)
# a supervisor for the wallboard
bin/callsync-ctl agent set sam --sip-user sam01 --name Sam --role supervisor > /dev/null
sam_token=$(curl -sf -X POST -H "Authorization: Bearer $CALLSYNC_API_KEY" \
  "http://127.0.0.1:$relay_port/v1/agents/sam/token" | json_field token)

cat <<EOT

callsync is running (logs in .run/*.log; Ctrl-C stops everything)

  Telnyx webhooks   POST http://127.0.0.1:$ingest_port/webhooks/telnyx
  health, metrics   http://127.0.0.1:$ingest_port/healthz  http://127.0.0.1:$ingest_port/metrics
  operator CLI      CALLSYNC_REDIS_URL=$CALLSYNC_REDIS_URL bin/callsync-ctl calls --active
  webhook key       TELNYX_PUBLIC_KEY=$TELNYX_PUBLIC_KEY (dev keypair in .run/keys.json)
  local Telnyx      http://127.0.0.1:$sim_port/v2 (Bearer sim-key), webhooks to the ingestor
  softphone         http://127.0.0.1:$relay_port/?token=$token
                    (alice; dial +15550100001: rings 1 s with early media, then answers)
  dashboard         http://127.0.0.1:$relay_port/dashboard?token=$sam_token
                    (sam, a supervisor: every live call, agents by presence)
  example CRM       http://127.0.0.1:$relay_port/crm-example.html?token=$token
                    (the softphone embedded: <callsync-softphone>, tel: links, Callsync.dial())
  a call to her     curl -s -X POST -d '{"from":"+15557770001","to":"+15550009999"}' http://127.0.0.1:$sim_port/sim/calls
  server dial       CALLSYNC_REDIS_URL=$CALLSYNC_REDIS_URL bin/callsync-ctl dial --agent alice --to +15550100004
                    (rings alice's softphone, then the customer; the customer hangs up after 3 s)

  CRM API           http://127.0.0.1:$relay_port/v1 (Bearer \$CALLSYNC_API_KEY; dev key: $CALLSYNC_API_KEY)
  agent token       curl -s -X POST -H "Authorization: Bearer $CALLSYNC_API_KEY" http://127.0.0.1:$relay_port/v1/agents/alice/token
  far-end phone     http://127.0.0.1:$sim_port/phone (be the customer in a tab)

  What is built and what is not: the status table in README.md.
EOT
wait
