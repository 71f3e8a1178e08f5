#!/usr/bin/env bash
# vfio-user-root.sh DIR
#
# Builds (once; cached) a Debian trixie root in DIR/trixie-root with QEMU from
# trixie-backports, whose vfio-user-pci device is the real vfio-user client
# (Debian 12's QEMU has none).  mmdebstrap (scripts/setup.sh installs it)
# fetches from the mirror this machine's apt already uses.  Prints the
# root's path.  Needs root (chroot).
set -euo pipefail
dir=${1:?usage: vfio-user-root.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
root=$dir/trixie-root
stamp=$root/.nvmf-root-v1
exec 9>"$dir/.vfio-user-root.lock"
flock -w 900 9 || { echo "vfio-user-root: lock timeout" >&2; exit 1; }
if [ -f "$stamp" ] && [ -x "$root/usr/bin/qemu-system-x86_64" ]; then
	echo "$root"
	exit 0
fi
command -v mmdebstrap >/dev/null || { echo "vfio-user-root: mmdebstrap missing (scripts/setup.sh)" >&2; exit 1; }
# The Debian mirror of this machine's own apt configuration.
mirror=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}';
	grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}'; } 2>/dev/null | grep -v -- '-security' | head -n 1 || true)
[ -n "$mirror" ] || { echo "vfio-user-root: no Debian mirror in the apt configuration" >&2; exit 1; }
rm -rf "$root.tmp"
mmdebstrap --variant=apt --quiet \
	--customize-hook='chroot "$1" apt-get install -y -qq --no-install-recommends -t trixie-backports qemu-system-x86 qemu-system-data seabios ipxe-qemu >/dev/null' \
	trixie "$root.tmp" "deb $mirror trixie main" "deb $mirror trixie-backports main" >&2
rm -rf "$root"
mv "$root.tmp" "$root"
mkdir -p "$root/nvmf"
touch "$stamp"
echo "$root"
