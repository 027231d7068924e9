#!/usr/bin/env bash
# deps.sh -- install the Debian packages xchg needs that are missing.
set -euo pipefail
PACKAGES=(build-essential pkg-config clang clang-format cppcheck
  libdpdk-dev libnuma-dev libhugetlbfs-dev libhugetlbfs-bin libbpf-dev
  liburing-dev libcmocka-dev libconfig-dev libjansson-dev libsqlite3-dev liblz4-dev librocksdb-dev
  iproute2 ethtool iputils-ping tcpdump tshark prometheus prometheus-node-exporter
  libsystemd-dev gnuplot-nox curl jq tmux)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}; run 'sudo make deps'" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
