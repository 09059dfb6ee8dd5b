#!/usr/bin/env bash
# Stops the test cluster started by tests/slurm/start.sh STATE_DIR: cancels its jobs, then stops slurmd,
# slurmctld and munged by the PIDs they saved under STATE_DIR/run (TERM, then KILL after 10 s).
set -uo pipefail

STATE=${1:?usage: stop.sh STATE_DIR}
STATE=$(cd "$STATE" && pwd) || exit 1
export SLURM_CONF="$STATE/etc/slurm.conf"

if [ -f "$STATE/run/slurmctld.pid" ] && [ -f "$SLURM_CONF" ]; then
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
        for _ in $(seq 1 20); do
            [ -z "$(timeout 10 squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null || true)" ] && break
            sleep 0.5
        done
    fi
fi

status=0
gone() {  # wait up to $2 quarter-seconds for process $1 to end
    for _ in $(seq 1 "$2"); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.25
    done
    ! kill -0 "$1" 2>/dev/null
}
for daemon in slurmd slurmctld munged; do
    pidfile="$STATE/run/$daemon.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        if ! gone "$pid" 40; then
            echo "$daemon ($pid) ignored TERM; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
            gone "$pid" 20 || { echo "$daemon ($pid) is still running" >&2; status=1; }
        fi
    fi
    rm -f "$pidfile"
done
# The symlink start.sh made for clients inside jobs, if it is ours.
[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$STATE/etc/slurm.conf" ] && rm -f /etc/slurm/slurm.conf
exit $status
