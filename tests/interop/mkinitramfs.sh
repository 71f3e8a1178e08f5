#!/usr/bin/env bash
# mkinitramfs.sh OUT_DIR
#
# Builds the interop guest's base initramfs (uncompressed newc cpio) into
# OUT_DIR/base.cpio and writes OUT_DIR/base.env (KERNEL=..., KVER=...).
# Cached: rebuilt only when missing or when an input changed (this script,
# guest-init.sh, the kernel, the binaries and libraries, the module tree).
#
# Contents: busybox-static and its applets, /usr/sbin/nvme, /usr/bin/fio,
# mke2fs (+ /etc/mke2fs.conf) and the shared libraries ldd names, the kernel
# modules (with dependencies) for NVMe/TCP host and target, the NVMe PCI driver, virtio-net,
# ext4, brd, null_blk and loop, a fixed host NQN and host ID, and /init.
#
# Kernel: the newest /boot/vmlinuz-*, or NVMF_INTEROP_KERNEL=path/to/vmlinuz-VER;
# modules from NVMF_INTEROP_MODROOT (a root holding lib/modules/VER, default /).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: mkinitramfs.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Fixed host identity: allowed-host tests need a known NQN.
HOSTID=6e766d66-696e-7465-726f-700000000001
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$HOSTID

MODULES=(configfs crc32c_generic crc32c-intel nvme-tcp nvmet nvmet-tcp nvme virtio_pci virtio_net ext4 brd null_blk loop)
# Kernel TLS for NVMe/TCP over TLS (tlshd hands the session to the kernel); absent modules are skipped.
MODULES+=(tls gcm ghash-generic ghash-clmulni-intel aesni-intel)
BINARIES=(/usr/sbin/nvme /usr/bin/fio /usr/sbin/mke2fs)

kernel=${NVMF_INTEROP_KERNEL:-}
if [ -z "$kernel" ]; then
	kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$kernel" ] && [ -f "$kernel" ] || { echo "mkinitramfs: no kernel (/boot/vmlinuz-*)" >&2; exit 1; }
kernel=$(readlink -f "$kernel")
kver=${kernel##*/vmlinuz-}
modroot=${NVMF_INTEROP_MODROOT:-/}
modroot=${modroot%/}
moddir=$modroot/lib/modules/$kver
[ -d "$moddir" ] || moddir=$modroot/usr/lib/modules/$kver
moddir=$(readlink -f "$moddir")
[ -d "$moddir" ] || { echo "mkinitramfs: no modules for $kver under $modroot" >&2; exit 1; }
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "mkinitramfs: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
for b in "${BINARIES[@]}"; do
	[ -x "$b" ] || { echo "mkinitramfs: $b missing (see scripts/setup.sh)" >&2; exit 1; }
done

# Shared libraries of the binaries, as ldd resolves them.
libs() {
	ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | sort -u
}
mapfile -t LIBS < <(libs "${BINARIES[@]}")

# Module files (modprobe resolves dependencies); builtin ones print "builtin".
mapfile -t KOS < <(for m in "${MODULES[@]}"; do
	modprobe --show-depends -d "${modroot:-/}" -S "$kver" "$m" 2>/dev/null | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++')

# The cache key: everything the image is made of.
inputs=$( {
	echo "v1 $kver $modroot $HOSTNQN ${NVMF_INTEROP_PVH:-1}"
	sha256sum "${BASH_SOURCE[0]}" "$here/guest-init.sh" "$here/extract-vmlinux.py" | awk '{print $1}'
	stat -L -c '%n %s %Y' "$kernel" "$busybox" "${BINARIES[@]}" "${LIBS[@]}" /etc/mke2fs.conf "$moddir/modules.dep" "${KOS[@]}"
} | sha256sum | awk '{print $1}')

exec 9>"$out/.mkinitramfs.lock"
flock -w 300 9 || { echo "mkinitramfs: lock timeout" >&2; exit 1; }

if [ -f "$out/base.cpio" ] && [ -f "$out/base.inputs" ] && [ "$(cat "$out/base.inputs")" = "$inputs" ]; then
	exit 0
fi

start=$(date +%s.%N)
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc/nvme,proc,sys,dev,run,tmp,root,mnt,var/tmp}
ln -s usr/bin "$stage/bin"
ln -s usr/sbin "$stage/sbin"
ln -s usr/lib "$stage/lib"
ln -s usr/lib64 "$stage/lib64"

# Busybox and its applets (real binaries of the same name win).
cp "$busybox" "$stage/usr/bin/busybox"
for a in $("$busybox" --list); do
	[ "$a" = busybox ] && continue
	[ -e "$stage/usr/bin/$a" ] || ln -s busybox "$stage/usr/bin/$a"
done

# The kernel runs /sbin/modprobe to load modules on demand (e.g. mount -t ext4).
for a in modprobe insmod rmmod lsmod depmod modinfo poweroff reboot halt; do
	ln -sf ../bin/busybox "$stage/usr/sbin/$a"
done

copy() { # copy a host file to the same path in the image, following symlinks
	local src=$1 dst=$stage$1
	mkdir -p "$(dirname "$dst")"
	cp -L "$src" "$dst"
}
for f in "${BINARIES[@]}" "${LIBS[@]}" /etc/mke2fs.conf; do
	# a real binary replaces a busybox link of the same name
	rm -f "$stage/usr/bin/$(basename "$f")"
	copy "$f"
done
ln -sf mke2fs "$stage/usr/sbin/mkfs.ext4"
ln -sf mke2fs "$stage/usr/sbin/mkfs.ext2"
rm -f "$stage/usr/bin/mkfs.ext4" "$stage/usr/bin/mkfs.ext2"

# Kernel modules, decompressed (busybox modprobe loads plain .ko only).
dmod=$stage/lib/modules/$kver
mkdir -p "$dmod"
for ko in "${KOS[@]}"; do
	rel=${ko#"$moddir"/}
	case $rel in /*) rel=kernel/${ko##*/kernel/} ;; esac
	dst=$dmod/$rel
	mkdir -p "$(dirname "$dst")"
	case $ko in
		*.ko.xz) xz -dc "$ko" >"${dst%.xz}" ;;
		*.ko.zst) zstd -qdc "$ko" >"${dst%.zst}" ;;
		*.ko.gz) gzip -dc "$ko" >"${dst%.gz}" ;;
		*) cp "$ko" "$dst" ;;
	esac
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$moddir/$f" ] && cp "$moddir/$f" "$dmod/"
done
depmod -b "$stage" "$kver"

echo "$HOSTNQN" >"$stage/etc/nvme/hostnqn"
echo "$HOSTID" >"$stage/etc/nvme/hostid"
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"
cp "$here/guest-init.sh" "$stage/init"
chmod 755 "$stage/init"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out/base.cpio.tmp"
mv "$out/base.cpio.tmp" "$out/base.cpio"
# An uncompressed ELF kernel boots through PVH, skipping the decompressor
# (2-4 s less per boot under TCG).  NVMF_INTEROP_PVH=0 boots the bzImage.
boot=$kernel
if [ "${NVMF_INTEROP_PVH:-1}" = 1 ] && grep -qs '^CONFIG_PVH=y' "$(dirname "$kernel")/config-$kver" &&
	python3 "$here/extract-vmlinux.py" "$kernel" "$out/vmlinux.tmp"; then
	mv "$out/vmlinux.tmp" "$out/vmlinux"
	boot=$out/vmlinux
fi
rm -f "$out/vmlinux.tmp"
printf 'KERNEL=%s\nKERNEL_IMAGE=%s\nKVER=%s\nHOSTNQN=%s\nHOSTID=%s\n' "$boot" "$kernel" "$kver" "$HOSTNQN" "$HOSTID" >"$out/base.env"
echo "$inputs" >"$out/base.inputs"
end=$(date +%s.%N)
echo "mkinitramfs: $out/base.cpio ($(du -m "$out/base.cpio" | cut -f1) MB, kernel $kver, $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s)" >&2
