#!/usr/bin/env bash
# Stop the daemons tests/slurm/start-slurm.sh started (and only those), newest first.
set -uo pipefail
STATE=${SLURM_CI_STATE:-/run/cosinetrack-slurm}
[ -s "$STATE/pidfiles" ] || { echo "nothing to stop"; exit 0; }

# Jobs still queued or running (a test run that timed out) would outlive the daemons.
if grep -qx /run/slurmctld.pid "$STATE/pidfiles"; then
    active=$(squeue -h -t PENDING,RUNNING -o %i 2> /dev/null)
    # shellcheck disable=SC2086  # one argument per job id
    [ -n "$active" ] && scancel $active && sleep 1
fi

tac "$STATE/pidfiles" | while read -r pidfile; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2> /dev/null || continue
    # Wait for a clean exit (slurmctld saves its state), then insist.
    for _ in $(seq 40); do kill -0 "$pid" 2> /dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2> /dev/null && kill -9 "$pid" 2> /dev/null
    echo "stopped $pidfile ($pid)"
done
rm -f "$STATE/pidfiles"
