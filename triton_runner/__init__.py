"""Code that runs inside Triton, not in our processes. `onnx_model.py` is the python-backend model that serves the
exported ONNX files with onnxruntime on CPU; `emostream export` copies it into every cpu/ model version as `model.py`.
Triton's stub loads it alone, so it imports nothing of the project (a unit test checks)."""

from pathlib import Path

ONNX_MODEL = Path(__file__).with_name("onnx_model.py")
