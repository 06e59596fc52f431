#!/usr/bin/env bash
# Cloud TPU VM slice (e.g. v5e-32): the same command on every worker; JAX finds
# the other hosts itself. WORKDIR is a gs:// path or a folder every worker mounts.
# Each worker needs this checkout in ~/htr with its .venv: pip install -e ".[tpu]".
#   bash launch/tpu_vm.sh my-tpu us-central2-b configs/online_ctc.py:data=iam_ondb,size=base gs://my-bucket/runs/iam
set -euo pipefail
TPU=$1; ZONE=$2; CONFIG=$3; WORKDIR=$4; shift 4
gcloud compute tpus tpu-vm ssh "$TPU" --zone="$ZONE" --worker=all --command="
  cd htr && . .venv/bin/activate && \
  TPU_NAME=$TPU python -m htr.main --config='$CONFIG' --workdir='$WORKDIR' $*"
