#!/usr/bin/env bash
# A real single-node SLURM cluster for the integration tests (Debian 12, Slurm 22.05), not a mock.
#
#   tests/slurm/start.sh STATE_DIR     installs the packages if missing, writes STATE_DIR/etc/slurm.conf,
#                                      starts munged, slurmctld and slurmd, waits until the node is idle
#   tests/slurm/stop.sh STATE_DIR      cancels the jobs and stops the three daemons by their saved PIDs
#
# Everything (config, state, logs, PID files, the munge socket) lives under STATE_DIR. Clients find the
# cluster through SLURM_CONF=STATE_DIR/etc/slurm.conf, and through a symlink /etc/slurm/slurm.conf to it
# that stop.sh removes again: inside a job, the Snakemake jobstep executor drops every SLURM_* variable
# (SLURM_CONF too) before its nested `srun`, which then needs the default location, as on a real cluster.
# An existing /etc/slurm/slurm.conf that is not ours is never touched (exit status 2).
# The node has one fake GPU: a gres needs a device file (File=/dev/null); a file-less GPU is dropped and the
# node goes INVAL. Needs root. Exit status 2: the cluster cannot be had here (no root, no apt, no packages).
set -euo pipefail

STATE=${1:?usage: start.sh STATE_DIR}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)

unavailable() { echo "slurm unavailable: $*" >&2; exit 2; }
pid_alive() { local pid; pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

[ "$(id -u)" -eq 0 ] || unavailable "needs root (the daemons run as root)"
need=(munged slurmctld slurmd sbatch squeue sinfo scontrol scancel)
missing() { for c in "${need[@]}"; do command -v "$c" >/dev/null || return 0; done; return 1; }
if missing; then
    command -v apt-get >/dev/null || unavailable "slurm is not installed and apt-get is absent"
    echo "installing slurmctld slurmd slurm-client munge with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge >"$STATE/apt.log" 2>&1 || {
        apt-get update >>"$STATE/apt.log" 2>&1 &&
            apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge >>"$STATE/apt.log" 2>&1
    } || unavailable "apt-get install failed (see $STATE/apt.log)"
    missing && unavailable "commands still missing after apt-get install: ${need[*]}"
fi

ETC_CONF=/etc/slurm/slurm.conf
if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
    target=$(readlink "$ETC_CONF" || true)
    case "$target" in
        */etc/slurm.conf)  # another test cluster's link: in use while its controller runs, else left behind
            other=$(dirname "$(dirname "$target")")
            pid_alive "$other/run/slurmctld.pid" && unavailable "another test cluster is running ($other)"
            rm -f "$ETC_CONF" ;;
        *) unavailable "$ETC_CONF exists (a real SLURM installation?); not touching it" ;;
    esac
fi

# A fresh start: state survives restarts (a drained node stays drained), so wipe it.
rm -rf "$STATE/etc" "$STATE/state" "$STATE/spool" "$STATE/munge" "$STATE/log" "$STATE/run"
mkdir -p "$STATE/etc" "$STATE/state" "$STATE/spool" "$STATE/munge" "$STATE/log" "$STATE/run"
chmod 700 "$STATE/munge"

# munge: a private daemon on a private socket with its own key, so nothing system-wide is touched.
dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$STATE/munge/munge.key"
munged --force --key-file="$STATE/munge/munge.key" --socket="$STATE/munge/munge.socket" \
    --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CTLD_PORT=${SLURM_TEST_CTLD_PORT:-$(free_port)}
SLURMD_PORT=${SLURM_TEST_SLURMD_PORT:-$(free_port)}
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done

# The node's hardware line exactly as slurmd sees it (CPUs, sockets, cores, memory), renamed localhost.
HW=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]*//')

cat >"$STATE/etc/slurm.conf" <<EOF
# Written by tests/slurm/start.sh: a one-node test cluster.
ClusterName=twsrecontest
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool/%n
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No accounting database: sacct has nothing to say, the executor must use squeue.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# One line per finished job (state, exit code, CPUs, memory).
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# A job asking for more than the node has is rejected at submission instead of pending forever.
EnforcePartLimits=ALL
MailProg=/bin/true
# Finished jobs stay visible to squeue (the executor's status checks rely on it) and to
# `scontrol show job` (the tests read each job's GPU request and comment there) for MinJobAge seconds.
MinJobAge=${SLURM_TEST_MIN_JOB_AGE:-300}
ReturnToService=2
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 $HW Gres=gpu:1 State=UNKNOWN
# The two partition names of profiles/slurm/partitions.yaml, on the one node: GPU jobs must land in "gpu".
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
cat >"$STATE/etc/gres.conf" <<EOF
# A fake GPU: Slurm needs a device file for it, and sets CUDA_VISIBLE_DEVICES for jobs that ask for it.
NodeName=localhost Name=gpu File=/dev/null
EOF
echo "export SLURM_CONF=$STATE/etc/slurm.conf" >"$STATE/env"
mkdir -p /etc/slurm
ln -s "$STATE/etc/slurm.conf" "$ETC_CONF"
export SLURM_CONF="$STATE/etc/slurm.conf"

slurmctld -f "$SLURM_CONF" -c
slurmd -f "$SLURM_CONF" -N localhost -c

# Wait until the node is idle (and the controller answers); give up early when a daemon died.
alive() { pid_alive "$STATE/run/$1.pid"; }
sleep 1  # the daemons write their PID files after forking
deadline=$((SECONDS + 60))
state=""
while [ $SECONDS -lt $deadline ]; do
    # one line per partition the node is in: all must say idle
    state=$(timeout 5 sinfo -h -N -n localhost -o %t 2>/dev/null | sort -u || true)
    [ "$state" = "idle" ] && { echo "slurm up: SLURM_CONF=$SLURM_CONF (ports $CTLD_PORT/$SLURMD_PORT)" >&2; exit 0; }
    for d in slurmctld slurmd munged; do alive $d || { state="$d died"; deadline=0; }; done
    sleep 0.5
done
echo "the test node did not become idle (state: '${state:-none}'); logs follow" >&2
tail -n 30 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
"$(dirname "$0")/stop.sh" "$STATE" || true
exit 1
