#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install the library with the
# extras named in $1, comma-separated (default: none): figures, cohort, tensorboard, slicer, nnunet,
# test, bench, web (see pyproject.toml). torch is pinned to the CPU wheel first, because an unpinned torch
# requirement pulls a multi-GB CUDA build. Override with TORCH_SPEC="torch==X".
#   bash scripts/setup_env.sh figures,cohort    # what scripts/demo.sh installs
#   bash scripts/setup_env.sh nnunet            # + nnU-Net v2 model folders (dynamic-network-architectures)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
pip=".venv/bin/python -m pip"
$pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -c "import torch" 2>/dev/null || $pip install -q --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}"
# keep the torch just installed: no extra may upgrade it (scripts/constraints.txt pins it)
constraints="${PIP_CONSTRAINT:-scripts/constraints.txt}"
if [ -n "${TORCH_SPEC:-}" ]; then
  constraints=$(mktemp); echo "$TORCH_SPEC" > "$constraints"
fi
case ",$extras," in
  *,test,*)
    # nnU-Net (Testing/models): --no-deps, since dynamic-network-architectures' timm -> torchvision chain
    # would pull a CUDA torch; nnunetv2's other dependencies are in the test extra.
    $pip install -q --disable-pip-version-check --no-deps -c "$constraints" \
      "dynamic-network-architectures>=0.4" "nnunetv2>=2.5"
    # taps (a real MONAI SegResNetDS, ONNX, 74 MB): --no-deps, since it requires onnxruntime-gpu; the CPU
    # onnxruntime and onnx are in the test extra, its other dependencies (monai, nibabel, scipy) too.
    # deepbet (two TorchScript networks, 10 MB): --no-deps, since it requires customtkinter (its GUI).
    $pip install -q --disable-pip-version-check --no-deps -c "$constraints" "lavlab-taps==1.1.2" "deepbet==1.0.2" ;;
  *,nnunet,*)
    # opening nnU-Net v2 trained-model folders needs only the network package (its UNets need no timm)
    $pip install -q --disable-pip-version-check --no-deps -c "$constraints" "dynamic-network-architectures>=0.4" ;;
esac
if [ -n "$extras" ]; then
  $pip install -q --disable-pip-version-check -c "$constraints" -e ".[$extras]"
else
  $pip install -q --disable-pip-version-check -c "$constraints" -e .
fi
