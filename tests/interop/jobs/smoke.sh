# Guest job: the harness works (boot, modules, nvme-cli, network).
. /lib.sh
set -e
modprobe nvme_tcp
grep -q '^nvme_tcp ' /proc/modules
echo "NVMF-UNAME=$(uname -r)"
nvme version
echo "NVMF-HOSTNQN=$(hostnqn)"
ip -4 addr show eth0 | grep -q 10.0.2.15
grep -q configfs /proc/mounts
echo "NVMF-SMOKE-OK"
