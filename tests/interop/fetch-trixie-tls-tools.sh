#!/usr/bin/env bash
# Fetch the TLS tools of a Linux NVMe/TCP host or target that Debian 12 lacks:
# tlshd (ktls-utils) and an nvme-cli with `gen-tls-key --insert` and
# `connect --tls`, from Debian trixie, with the libraries they need, into
# CACHE_DIR/root (apt-get download through a private sources list on the
# mirror the system's apt already uses, then dpkg-deb -x; nothing installed).
# The guest runs them with chroot.  Prints the root.  Cached.
# Usage: fetch-trixie-tls-tools.sh CACHE_DIR
set -euo pipefail
cache=${1:?usage: fetch-trixie-tls-tools.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
root=$cache/root
if [ -f "$cache/done" ]; then
	cat "$cache/done"
	exit 0
fi
mirror=$( (grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
	grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}') |
	grep -v -- '-security' | grep '/debian/\?$' | head -1 || true)
[ -n "$mirror" ] || { echo "fetch-trixie-tls-tools: no Debian mirror in the apt sources" >&2; exit 1; }
apt=$cache/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc" "$cache/debs"
echo "deb $mirror trixie main" >"$apt/etc/sources.list"
opts=(-o Dir::Etc::SourceList="$apt/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o APT::Get::List-Cleanup=0
	-o Dir::State::Status=/dev/null)
apt-get "${opts[@]}" update >&2
# The two tools and what they link against (no recommends); virtual names are skipped.
mapfile -t pkgs < <(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
	--no-breaks --no-replaces --no-enhances ktls-utils nvme-cli keyutils | grep -E '^[a-z0-9]' | sort -u)
(cd "$cache/debs" && for p in "${pkgs[@]}"; do apt-get "${opts[@]}" download "$p" >/dev/null 2>&1 || true; done)
rm -rf "$root"
mkdir -p "$root"
for d in "$cache"/debs/*.deb; do
	dpkg-deb -x "$d" "$root"
done
# Merged /usr, as trixie's base-files would make it (the ELF interpreter is /lib64/...).
for d in bin sbin lib lib64; do
	[ -e "$root/$d" ] || ln -s "usr/$d" "$root/$d"
done
[ -x "$root/usr/sbin/tlshd" ] && [ -x "$root/usr/sbin/nvme" ] || { echo "fetch-trixie-tls-tools: tools missing" >&2; exit 1; }
echo "$root" >"$cache/done"
cat "$cache/done"
