#!/usr/bin/env bash
# Make the model the repository ships in models/mnist-crnn (model.read's fallback): generate
# realistic sequences from the full MNIST, train on fresh sequences every epoch, and copy the
# run's model, config and metrics into models/mnist-crnn. With internet, MNIST=keras fetches
# the full MNIST through keras.datasets; else give a local copy (Keras-layout mnist.npz).
#
#   bash scripts/ship_model.sh MNIST_PATH_OR_keras [EPOCHS]
#
# The model is the mean of the weights of the last 7 epochs run (--average-last 7), kept
# because it read the validation split better than the best single epoch. Its confidence
# calibrator is fitted last (model.calibrate), on renderings of MNIST validation digits.
set -euo pipefail
MNIST="${1:?usage: bash scripts/ship_model.sh MNIST_PATH_OR_keras [EPOCHS]}"
EPOCHS="${2:-45}"
if [ "$MNIST" = keras ]; then source_args=(--source keras); else
  [ -f "$MNIST" ] || { echo "error: no MNIST file at $MNIST" >&2; exit 2; }
  source_args=(--source file --mnist "$(cd "$(dirname "$MNIST")" && pwd)/$(basename "$MNIST")")
fi
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh" requirements.txt
cd "$ROOT/src"
python3 -m digits.sequence_generator "${source_args[@]}" --realistic --out "$ROOT/data/shipped" \
  --count-train 20000 --count-val 2000 --count-test 2000 --overwrite
python3 -m model.icr "$ROOT/data/shipped" --fresh --epochs "$EPOCHS" \
  --conv-filters 32,64,96 --gru-units 128 --average-last 7 --run-dir "$ROOT/runs/shipped" \
  --overwrite
target="$ROOT/models/mnist-crnn"
mkdir -p "$target"
python3 -m model.calibrate "$ROOT/runs/shipped" "${source_args[@]}"
for f in model.keras config.json metrics.json history.csv averaged.json calibration.json; do
  cp "$ROOT/runs/shipped/$f" "$target/.$f.partial" && mv "$target/.$f.partial" "$target/$f"
done
echo "shipped: $target (now measure it: python bench/real.py $target FOLDER...)"
