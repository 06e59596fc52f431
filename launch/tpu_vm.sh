#!/usr/bin/env bash
# Cloud TPU VM slice (e.g. v5e-32): the same command on every worker; JAX finds
# the other hosts itself. WORKDIR must be a folder every worker mounts (e.g. a
# Filestore share; gs:// is not supported yet: htr's reports use local file calls).
# Each worker needs this checkout in ~/htr with its .venv: pip install -e ".[tpu]".
#   bash launch/tpu_vm.sh my-tpu us-central2-b configs/online_ctc.py:data=iam_ondb,size=base /mnt/share/runs/iam
set -euo pipefail
TPU=$1; ZONE=$2; CONFIG=$3; WORKDIR=$4; shift 4
gcloud compute tpus tpu-vm ssh "$TPU" --zone="$ZONE" --worker=all --command="
  cd htr && . .venv/bin/activate && \
  TPU_NAME=$TPU python -m htr.main --config='$CONFIG' --workdir='$WORKDIR' $*"
