#!/usr/bin/env bash
# The GPU run, prepared: on a machine with an NVIDIA GPU and no Docker, from a fresh clone,
#   bash bench/gpu.sh            # Triton (python backend + onnxruntime-gpu) with the image ensemble on the GPU, then
#                                # the trainer's step (mixed precision) with each image backbone, frozen and fine-tuned
#   bash bench/gpu.sh --cpu      # the same run on the CPU: the dry run CI does (--quick for a short one)
# installs what it needs from PyPI (the project venv; a Triton venv of its own with onnxruntime-gpu and the CUDA/cuDNN
# wheels), starts Kafka, Redis and Triton on loopback, runs `python -m bench.gpu`, and writes
# artifacts/bench/gpu.json and gpu.md. The stack of this run lives in .stack-gpu/ and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup >/dev/null
export EMOSTREAM_STACK_DIR="$PWD/.stack-gpu"
case " $* " in
  *" --cpu "*) export EMOSTREAM_STACK_DIR="$PWD/.stack" ;;  # the CPU stack the tests use
  *) export EMOSTREAM_STACK_TRITON_ONNXRUNTIME="onnxruntime-gpu[cuda,cudnn]==1.23.2"
     command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader ;;
esac
started=$(.venv/bin/python -c "from devstack import StackConfig, status; print(' '.join(s.name for s in status(StackConfig()) if s.state=='stopped'))")
trap '[ -n "$started" ] && .venv/bin/python -c "from devstack import StackConfig, down; down(StackConfig(), only=\"$started\".split())"' EXIT
.venv/bin/emostream stack up
.venv/bin/python -m bench.gpu "$@"
