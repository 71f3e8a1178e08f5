#!/usr/bin/env bash
# Fetch Debian's bookworm-backports kernel (6.12: NVMe in-band authentication
# and NVMe/TCP TLS) into CACHE_DIR without installing it: apt-get download
# through a private sources list on the mirror the system's apt already uses,
# then dpkg-deb -x.  Prints "KERNEL MODROOT" (for NVMF_INTEROP_KERNEL and
# NVMF_INTEROP_MODROOT).  Cached: a second run downloads nothing.
# Usage: fetch-backports-kernel.sh CACHE_DIR
set -euo pipefail
cache=${1:?usage: fetch-backports-kernel.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
root=$cache/root
if [ -f "$cache/done" ]; then
	cat "$cache/done"
	exit 0
fi
# The system's Debian mirror (deb822 or one-line form), not its security archive.
mirror=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
	grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}') |
	grep -v -- '-security' | grep '/debian/\?$' | head -1 || true)
[ -n "$mirror" ] || { echo "fetch-backports-kernel: no Debian mirror in the apt sources" >&2; exit 1; }
apt=$cache/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc"
echo "deb $mirror bookworm-backports main" >"$apt/etc/sources.list"
opts=(-o Dir::Etc::SourceList="$apt/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o APT::Get::List-Cleanup=0)
apt-get "${opts[@]}" update >&2
# linux-image-amd64 from backports names the versioned image package.
pkg=$(apt-cache "${opts[@]}" depends linux-image-amd64 | awk '/Depends: linux-image-6/ {print $2}' | sort -V | tail -1)
[ -n "$pkg" ] || { echo "fetch-backports-kernel: no linux-image package in bookworm-backports" >&2; exit 1; }
(cd "$cache" && apt-get "${opts[@]}" download "$pkg" >&2)
rm -rf "$root"
dpkg-deb -x "$cache/${pkg}"_*.deb "$root"
kernel=$(ls "$root"/boot/vmlinuz-* | head -1)
# The package's postinst would have made modules.dep; modprobe needs it.
kver=${kernel##*/vmlinuz-}
depmod -b "$root" "$kver"
echo "$kernel $root" >"$cache/done"
cat "$cache/done"
