#!/usr/bin/env bash
# Install detnas plus super-gradients 3.7.1 (needed to unpickle YOLO-NAS for ultralytics.NAS) into a venv.
#
# super-gradients 3.7.1, its last release, cannot be resolved beside current ultralytics on Python 3.11 (its numpy and
# onnxruntime pins conflict with opencv and onnxruntime releases ultralytics needs), so it is installed without its
# declared dependencies and then given the run-time imports it actually needs.
#
# usage: scripts/install_yolonas.sh [VENV]   (default: .venv-yolonas beside this repository's pyproject.toml)
# test:  YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false VENV/bin/python -m pytest tests/integration/test_yolonas.py
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$repo/.venv-yolonas}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q)

# 1. detnas and its pinned torch pair (taken from local disk where the build machines keep them).
"${pip[@]}" -e "$repo[onnx,test,tflite]"
# 2. super-gradients and the two packages it pins, without their conflicting dependency pins.
"${pip[@]}" --no-deps "super-gradients==3.7.1" "data-gradients==0.3.2" "torchmetrics==0.8.0"
# 3. What importing super_gradients and building/saving YOLO-NAS really needs (pkg_resources is gone in setuptools 81).
"${pip[@]}" "setuptools<81" omegaconf hydra-core "termcolor==1.1.0" boto3 stringcase jsonschema onnx onnxsim \
    onnxruntime rapidfuzz tensorboard "treelib==1.6.1" tqdm imagesize scipy einops deprecated pandas seaborn \
    "pillow>=10"

SUPER_GRADIENTS_LOG_DIR="${SUPER_GRADIENTS_LOG_DIR:-${TMPDIR:-/tmp}/sg_logs}" CRASH_HANDLER=FALSE \
    "$venv/bin/python" -c "import super_gradients, ultralytics; print('super_gradients', super_gradients.__version__, 'ultralytics', ultralytics.__version__)"
