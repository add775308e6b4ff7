#!/usr/bin/env bash
# The prepared GPU check (issue 18), for one GPU with the machine's own Python (CUDA torch + Triton, onnxruntime
# CPU, no TensorRT, no network), about 8 minutes on an H100. Prints JSON lines:
#   1. {"step": "imports"}: the modules the check needs, missing ones named (nothing is downloaded);
#   2. the `gpu`-marked tests (spconv-triton vs native layers, native bf16 autocast, kernel maps on CUDA);
#   3. benchmarks/gpu_pretrain.py: unet_paper SPOT pre-training on simulated HDL-64E at 0.1 m voxels,
#      native vs spconv-triton, fp32 and bf16 (scans/s, peak memory, final losses compared);
#   4. a segmentation fine-tune on the GPU (spconv-triton), exported and verified on CPU (portable, autoware).
# Usage: gpu_check.sh [--dry-run] [STEP...]. --dry-run runs the same steps on CPU, small: tests collected only, native backend, 0.2 m voxels, 1-2 steps.
# The repository is put on the import path as the `spot` package through symlinks: no pip install needed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
DRY_RUN=0
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1 && shift
ONLY=" $* "  # optional step names (gpu_tests gpu_pretrain finetune): run only those; export follows finetune
want() { [[ "$ONLY" == "  " || "$ONLY" == *" $1 "* ]]; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/spot-gpu-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/pkg/spot"
for init in "$REPO"/*/__init__.py; do part=$(dirname "$init"); ln -s "$part" "$WORK/pkg/spot/${part##*/}"; done
export PYTHONPATH="$WORK/pkg:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-$WORK/triton-cache}"
cd "$REPO"

FAILED=0
step() {  # step NAME COMMAND...: runs it, prints {"step", "rc", "seconds"}; the check goes on after a failure
    local name="$1" start rc=0
    shift
    start=$(date +%s)
    "$@" || rc=$?
    [[ $rc == 0 ]] || FAILED=1
    echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(($(date +%s) - start)), \"dry_run\": $DRY_RUN}"
}

"$PYTHON" - <<'EOF'
import importlib.util, json, sys
needed = ["torch", "numpy", "onnx", "onnxruntime", "omegaconf", "safetensors", "yaml", "click", "pytest", "scipy"]
optional = ["triton", "spconv_triton", "tensorrt"]
missing = [m for m in needed if importlib.util.find_spec(m) is None]
print(json.dumps({"step": "imports", "python": sys.version.split()[0], "missing": missing,
                  "optional_present": [m for m in optional if importlib.util.find_spec(m) is not None]}))
sys.exit(1 if missing else 0)
EOF

if [[ $DRY_RUN == 1 ]]; then
    DEVICE=cpu BACKENDS="native" PRETRAIN=(--voxel-size 0.2 --steps 2 --scans 1 --batch-size 1) FINETUNE_STEPS=1
    SMALL=(train.batch_size=1 data.train.horizontal_resolution_deg=0.7)
    want gpu_tests && step gpu_tests "$PYTHON" -m pytest -q -m gpu --collect-only -p no:cacheprovider tests/
else
    DEVICE=cuda BACKENDS="native spconv-triton" PRETRAIN=(--voxel-size 0.1 --steps 20 --scans 4 --batch-size 2)
    FINETUNE_STEPS=40 SMALL=()
    "$PYTHON" -c "import torch, json; print(json.dumps({'step': 'device', 'gpu': torch.cuda.get_device_name(0),
        'torch': torch.__version__, 'cuda': torch.version.cuda}))"
    want gpu_tests && step gpu_tests "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider tests/
fi

# shellcheck disable=SC2086
want gpu_pretrain && step gpu_pretrain "$PYTHON" benchmarks/gpu_pretrain.py --device "$DEVICE" --backends $BACKENDS \
    --precisions fp32 bf16 "${PRETRAIN[@]}"

want finetune || exit $FAILED
LAST_BACKEND="${BACKENDS##* }"
step finetune "$PYTHON" -m spot.trainer.cli.train finetune -c configs/finetune/seg-unet-sim-hdl64.yaml \
    "train.max_steps=$FINETUNE_STEPS" "train.device=$DEVICE" "model.backend=$LAST_BACKEND" train.num_workers=0 \
    "data.train.frames=2" "data.train.seeds=[0]" data.val=null "train.output_dir=$WORK/seg" "${SMALL[@]}"
for flavour in portable autoware; do  # on CPU: the GPU-trained weights load into the native backend
    step "export_$flavour" env CUDA_VISIBLE_DEVICES= "$PYTHON" -m spot.export.cli "$WORK/seg" \
        -o "$WORK/artifact-$flavour" --flavour "$flavour"
done
exit $FAILED
