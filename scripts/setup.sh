#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test nvmf.
# Idempotent: installs only missing packages.
set -euo pipefail
pkgs=(
  build-essential meson ninja-build pkg-config
  liburing-dev libisal-dev libjson-c-dev libssl-dev
  # Linux peers under QEMU (tests/interop)
  qemu-system-x86 linux-image-amd64 busybox-static nvme-cli fio kmod cpio zstd xz-utils e2fsprogs
  # QEMU 11 (vfio-user-pci) from a trixie root: tests/interop/test-vfio-user-guest.sh
  mmdebstrap
  # Ceph: the RBD backend (librbd-dev) and the one-node cluster of scripts/ceph-cluster.sh
  librbd-dev librados-dev ceph-mon ceph-mgr ceph-osd ceph-common
  # sanitizer runtime, tooling used by tests and benchmarks
  gcc python3 util-linux procps iproute2
  # the metrics test parses with Prometheus's own client library
  python3-prometheus-client
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
