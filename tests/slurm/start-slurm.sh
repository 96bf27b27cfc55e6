#!/usr/bin/env bash
# Start a single-node SLURM (munge + slurmctld + slurmd) on this machine, as root and without
# systemd, so that tests/test_slurm.py can submit the real workflow through sbatch.
# Follows the recipe tested in shared/notes/slurm-single-node-ci.md (Debian 12, Slurm 22.05).
#
#   tests/slurm/start-slurm.sh   # install (if needed), configure, start; prints sinfo
#   tests/slurm/stop-slurm.sh    # stop exactly the daemons this script started
#
# Exit status: 0 running, 3 a SLURM daemon was already running (left untouched), else failure.
# Without slurmdbd there is no `sacct`: run Snakemake with `--slurm-status-command squeue`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
start=$SECONDS

# The pid files of the daemons started here, one a line, for stop-slurm.sh.
STATE=${SLURM_CI_STATE:-/run/cosinetrack-slurm}
PACKAGES=(munge slurmctld slurmd slurm-client)

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Never reconfigure a SLURM someone else runs: slurm.conf below would replace theirs.
for pidfile in /run/slurmctld.pid /run/slurmd.pid; do
    if alive "$pidfile"; then
        echo "a SLURM daemon is already running ($pidfile); not touching it." >&2
        echo "If it is left over from an earlier test run, stop it: tests/slurm/stop-slurm.sh" >&2
        exit 3
    fi
done

installed() {
    local package
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' \
            || return 1
    done
}
if ! installed; then
    # Package scripts must not start the daemons (unconfigured, they would fail or hold the
    # pid files); we start them below. Docker images ship this guard, other machines may not.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    # Without recommends: 8 packages, not the ~43 of slurm-wlm (hdf5, rrd, influxdb, ...).
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" > /dev/null
fi
echo "packages ready after $((SECONDS - start)) s"

HOST=$(hostname -s)
MEM=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))   # leave 1 GB to the OS
NCPU=$(nproc)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge "$STATE"
: > "$STATE/pidfiles"

# 127.0.0.1 everywhere: nothing depends on the hostname resolving.
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups: nothing here needs systemd or a cgroup.conf.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# No slurmdbd: sacct does not work, so Snakemake must poll with squeue ...
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# ... and finished jobs must stay visible to squeue (the plugin wants >= 120 s).
MinJobAge=600
# Finished jobs are also written here (read with \`sacct -c\`); the test checks it.
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
# Without a default, a job that gives no --mem would take the whole node's memory.
DefMemPerCPU=1000
# One fake GPU (gres.conf: File=/dev/null) so that jobs with gpu=1 (--gpus=1) are accepted.
GresTypes=gpu
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${NCPU} RealMemory=${MEM} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONF
echo "Name=gpu File=/dev/null" > /etc/slurm/gres.conf

# The package postinst creates the key; create it only where it is missing.
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key /run/munge
chmod 400 /etc/munge/munge.key
if ! alive /run/munge/munged.pid; then
    su -s /bin/sh munge -c /usr/sbin/munged   # daemonizes, writes /run/munge/munged.pid
    echo /run/munge/munged.pid >> "$STATE/pidfiles"
fi
for _ in $(seq 40); do munge -n | unmunge > /dev/null 2>&1 && break; sleep 0.25; done

/usr/sbin/slurmctld   # daemonizes, writes /run/slurmctld.pid
echo /run/slurmctld.pid >> "$STATE/pidfiles"
/usr/sbin/slurmd      # daemonizes, writes /run/slurmd.pid
echo /run/slurmd.pid >> "$STATE/pidfiles"

for _ in $(seq 120); do
    if sinfo -h -o '%t' 2> /dev/null | grep -q '^idle'; then
        sinfo
        echo "SLURM up after $((SECONDS - start)) s"
        exit 0
    fi
    sleep 0.5
done
echo "the node did not become idle within 60 s:" >&2
sinfo >&2 || true
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
