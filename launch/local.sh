#!/usr/bin/env bash
# One machine, all its devices (CPU, or every local GPU/TPU chip):
#   bash launch/local.sh configs/online_ctc.py:data=iam_ondb /tmp/htr/iam [--config.x=y ...]
# FAKE_DEVICES=8 splits the CPU into 8 devices to try sharded runs on a laptop.
set -euo pipefail
CONFIG=$1; WORKDIR=$2; shift 2
if [[ -n "${FAKE_DEVICES:-}" ]]; then
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=$FAKE_DEVICES"
fi
exec python -m htr.main --config="$CONFIG" --workdir="$WORKDIR" "$@"
