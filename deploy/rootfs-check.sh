#!/usr/bin/env bash
# rootfs-check: runs deploy/Dockerfile's steps where no Docker engine is
# (a CI runner without one, this project's dev machines), in two Debian
# bookworm roots made by debootstrap: stage 1 builds with scripts/deps.sh
# (CALLSYNC_DEPS=build), stage 2 installs the runtime package list read
# from the Dockerfile and gets the binaries and web build. Then every
# binary's libraries must resolve, each must answer --help as nobody, and
# the services must start as nobody beside a Redis and answer /healthz
# (the sim's public key feeds the ingestor, as in compose's sim profile).
# It checks what goes into the image, not the engine's build.
#
#   sudo deploy/rootfs-check.sh [WORKDIR]   (root, network to Debian + npm)
#
# Behind a TLS-intercepting proxy, the host's extra CA certificates
# (/usr/local/share/ca-certificates) are copied in for npm.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "rootfs-check: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap > /dev/null || apt-get install -y debootstrap
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/callsync-rootfs}
B=$work/build
T=$work/runtime
mkdir -p "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for m in "$T/dev" "$T/proc" "$B/proc"; do umount "$m" 2> /dev/null || true; done
}
trap cleanup EXIT
for R in "$B" "$T"; do
  [ -x "$R/bin/bash" ] || debootstrap --variant=minbase bookworm "$R" http://deb.debian.org/debian
  mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  if ls /usr/local/share/ca-certificates/*.crt > /dev/null 2>&1; then
    mkdir -p "$R/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/"
  fi
done
mountpoint -q "$T/dev" || mount --bind /dev "$T/dev"

echo "== stage 1: build (the Dockerfile's first FROM)"
rm -rf "$B/src" && mkdir -p "$B/src"
git -C "$repo" archive HEAD | tar -x -C "$B/src"
chroot "$B" /bin/bash -c 'set -e; cd /src; apt-get update -q;
  CALLSYNC_DEPS=build scripts/deps.sh;
  update-ca-certificates > /dev/null 2>&1 || true;
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt;
  make clean && make -j"$(nproc)" all && make web'

echo "== stage 2: runtime (the Dockerfile's second FROM)"
list=$(sed -n '/^FROM debian:bookworm-slim/,/rm -rf/p' "$repo/deploy/Dockerfile" |
  sed -n '/install -y/,/&&/p' | tr -d '\\' | sed 's/.*--no-install-recommends//; s/&&.*//' | tr '\n' ' ')
chroot "$T" /bin/bash -c "apt-get update -q && apt-get install -y -q --no-install-recommends $list"
rm -rf "$T/usr/local/bin/callsync-"* "$T/usr/share/callsync"
mkdir -p "$T/usr/share/callsync/web" "$T/tmp" && chmod 1777 "$T/tmp"
cp "$B/src/bin/"* "$T/usr/local/bin/"
cp -r "$B/src/web/dist/." "$T/usr/share/callsync/web/"
failed=0
for b in "$T"/usr/local/bin/callsync-*; do
  name=/usr/local/bin/$(basename "$b")
  if chroot "$T" ldd "$name" | grep "not found"; then echo "FAIL $name: libraries missing"; failed=1; fi
  chroot "$T" su -s /bin/sh nobody -c "$name --help" > /dev/null 2>&1 ||
    { echo "FAIL $name --help"; failed=1; }
done

echo "== the services as nobody, beside a Redis"
port() { echo $((20000 + RANDOM % 30000)); }
rp=$(port); sp=$(port); ip=$(port); op=$(port); tp=$(port); lp=$(port); bp=$(port)
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no > "$work/redis.log" 2>&1 &
pids+=($!)
common="CALLSYNC_REDIS_URL=redis://127.0.0.1:$rp/0 CALLSYNC_BUS_PUB=tcp://127.0.0.1:$bp
  CALLSYNC_BUS_SUB=tcp://127.0.0.1:$((bp + 1)) TELNYX_API_BASE=http://127.0.0.1:$sp/v2
  TELNYX_API_KEY=sim-key CALLSYNC_WEB_DIR=/usr/share/callsync/web"
start() {
  chroot "$T" su -s /bin/sh nobody -c \
    "exec env $(echo $common) $2 /usr/local/bin/callsync-$1 > /tmp/$1.log 2>&1" 2> /dev/null &
  pids+=($!)
}
up() {
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/healthz" && return 0; sleep 0.1; done
  return 1
}
start bus ""
start sim "CALLSYNC_SIM_PORT=$sp CALLSYNC_SIM_WEBHOOK_URL=http://127.0.0.1:$ip/webhooks/telnyx"
up "$sp" || { echo "FAIL sim"; failed=1; }
pk=$(curl -s "http://127.0.0.1:$sp/sim/public-key" | tr -d '"')
start ingestor "CALLSYNC_INGEST_PORT=$ip TELNYX_PUBLIC_KEY=$pk"
start orchestrator "CALLSYNC_ORCH_PORT=$op TELNYX_CONNECTION_ID=1001 CALLSYNC_CALLER_ID=+15550009999"
start timer "CALLSYNC_TIMER_PORT=$tp"
start relay "CALLSYNC_RELAY_PORT=$lp CALLSYNC_API_KEY=rootfs-check-0123456789abcdef CALLSYNC_RTC_HOST=ws://127.0.0.1:$sp"
for p in "ingestor $ip" "orchestrator $op" "timer $tp" "relay $lp"; do
  set -- $p
  if up "$2"; then echo "ok   $1 /healthz"; else echo "FAIL $1 /healthz"; failed=1; fi
done
curl -sf "http://127.0.0.1:$lp/" | grep -q "<title>callsync softphone</title>" &&
  echo "ok   relay serves the softphone" || { echo "FAIL relay GET /"; failed=1; }
pkill -TERM -f "/usr/local/bin/callsync-" || true
sleep 1
[ $failed = 0 ] && echo "rootfs-check: the image's contents work" || {
  tail -n 5 "$T"/tmp/*.log
  exit 1
}
