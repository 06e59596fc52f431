#!/usr/bin/env bash
# The README's main job on the embedded default: train the online-ink model on
# synthetic ink (generated on first use), evaluate it on held-out writers, export
# it as SavedModels, write a new line as ink in an unseen writer's style and
# recognise it with the checkpoint and with the exported model.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKDIR=${WORKDIR:-/tmp/htr/quickstart}
CONFIG=${CONFIG:-configs/online_ctc.py}
SAMPLE_TEXT=${SAMPLE_TEXT:-"The quick brown fox jumps over 12 lazy dogs."}

python -m htr.main --config="$CONFIG" --workdir="$WORKDIR" "$@"
python -m htr.main --config="$CONFIG" --workdir="$WORKDIR" --mode=eval --split=test
python -m htr.main --config="$CONFIG" --workdir="$WORKDIR" --mode=export
htr write "$SAMPLE_TEXT" --out="$WORKDIR/sample.inkml" --seed=2024
echo "written: $SAMPLE_TEXT"
htr recognize --workdir="$WORKDIR" "$WORKDIR/sample.inkml"
htr recognize --saved_model="$WORKDIR/export" "$WORKDIR/sample.inkml"
echo "Next: 'htr serve' serves the model zoo's pretrained models (htr zoo list) with the"
echo "drawing page at http://127.0.0.1:8000/ ; 'htr serve --models=DIR' serves your exports."
