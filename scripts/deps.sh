#!/usr/bin/env bash
# Installs the Debian packages callsync needs, only those that are missing.
# Root: runs apt-get. Not root: prints the exact command and fails, so a
# fresh clone never half-builds with a confusing compiler error.
set -euo pipefail

pkgs=(
  build-essential pkg-config clang clang-format libclang-rt-14-dev
  libzmq3-dev libczmq-dev libhiredis-dev libjansson-dev
  libcurl4-openssl-dev libmicrohttpd-dev libwebsockets-dev libsodium-dev libcmocka-dev libjwt-dev
  # libwebsockets on a libuv loop (epoll; poll() costs O(sockets) per wake-up)
  libuv1-dev libwebsockets-evlib-uv
  redis-server redis-tools curl
  # the sim's far-end media: GStreamer webrtcbin (the -bad headers pull in
  # OpenCV's, ~550 MiB; measured 36 s to install here, so it stays)
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-nice libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev
  # browser tests: Debian's chromium (never a downloaded one), unshare + ip
  chromium util-linux iproute2
  # make bench: a lean HTTP load generator beside bench/loadgen; WIRE=1's
  # capture of the loop (bench/wirelat); the open loop's answer parser
  wrk tcpdump libpcap-dev libhttp-parser-dev
)

# CALLSYNC_DEPS=build (deploy/Dockerfile): what building needs, not the
# browser tests' chromium nor the test Redis.
if [ "${CALLSYNC_DEPS:-}" = build ]; then
  skip=" clang clang-format libclang-rt-14-dev redis-server chromium util-linux iproute2 wrk tcpdump libpcap-dev libhttp-parser-dev "
  keep=()
  for p in "${pkgs[@]}"; do [[ $skip == *" $p "* ]] || keep+=("$p"); done
  pkgs=("${keep[@]}")
fi

# Node.js runs the SDK conformance tests (and later builds the web app);
# any node >= 18 on the PATH will do, else Debian's.
command -v node > /dev/null || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "callsync: missing Debian packages; run as root:" >&2
  echo "  apt-get update && $cmd" >&2
  exit 1
fi
echo "callsync: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
