#!/usr/bin/env bash
# N processes on this machine talking through jax.distributed (gloo): the
# multi-host code path (per-process data shards, global arrays) without a cluster.
#   bash launch/multiprocess_cpu.sh 2 configs/online_ctc.py:runlocal /tmp/htr/mp
set -euo pipefail
N=$1; CONFIG=$2; WORKDIR=$3; shift 3
PORT=${PORT:-12355}
export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=${DEVICES_PER_PROCESS:-2}"
export JAX_CPU_COLLECTIVES_IMPLEMENTATION=gloo
pids=()
# If one process fails, `set -e` exits here: stop the others, which would wait for it.
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for ((i = 0; i < N; i++)); do
  python -m htr.main --config="$CONFIG" --workdir="$WORKDIR" \
    --coordinator_address="127.0.0.1:$PORT" --num_processes="$N" --process_id="$i" "$@" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
