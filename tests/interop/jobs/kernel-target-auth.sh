# Guest job: the kernel target (nvmet) serving NVMF_NQN on port 4420 to one
# host, NVMF_HOST, which must pass DH-HMAC-CHAP: NVMF_DHCHAP_KEY, and
# optionally NVMF_DHCHAP_CTRL_KEY, NVMF_DHCHAP_HASH, NVMF_DHCHAP_DHGROUP
# (written to configfs hosts/NVMF_HOST/dhchap_*; change them later over the
# control channel: "sh echo ... > $NVMF_CONFIGFS/hosts/.../dhchap_hash").
# Stays up until "release" or NVMF_TARGET_SECONDS pass, like kernel-target.sh.
. /lib.sh
nqn=${NVMF_NQN:?}
host=${NVMF_HOST:?}
target_setup "$nqn" "${NVMF_BACKING:-brd:64}" 4420 || exit 1
target_restrict_host "$nqn" "$host" || exit 1
h=$NVMF_CONFIGFS/hosts/$host
printf '%s' "$NVMF_DHCHAP_KEY" >"$h/dhchap_key" || { fail "dhchap_key refused"; exit 1; }
[ -z "${NVMF_DHCHAP_CTRL_KEY:-}" ] || printf '%s' "$NVMF_DHCHAP_CTRL_KEY" >"$h/dhchap_ctrl_key" || exit 1
[ -z "${NVMF_DHCHAP_HASH:-}" ] || echo "$NVMF_DHCHAP_HASH" >"$h/dhchap_hash" || exit 1
[ -z "${NVMF_DHCHAP_DHGROUP:-}" ] || echo "$NVMF_DHCHAP_DHGROUP" >"$h/dhchap_dhgroup" || exit 1
echo "NVMF-AUTH-TARGET hash=$(cat "$h/dhchap_hash") dhgroup=$(cat "$h/dhchap_dhgroup")"
target_wait "${NVMF_TARGET_SECONDS:-60}" || exit 1
dmesg | grep -i "nvmet.*auth\|dhchap" | tail -n 10
target_report "$nqn"
exit 0
