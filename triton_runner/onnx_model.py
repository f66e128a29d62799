"""Triton python-backend model that runs an ONNX file with onnxruntime (the `cpu` export target).

The exporter copies this file as <model>/<version>/model.py next to model.onnx. Triton's dynamic batcher
hands execute() several requests; they run as one onnxruntime call and are split back, one response each.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(params.get("intra_op_threads", "0"))
        opts.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: a server runs one session per model (encoders, seven heads),
        # and spinning threads take the core from the one that has work (DenseNet on one pinned core: 184 ms/image
        # without spinning, 209 with; bench/end_to_end.py's split layout).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        # "execution_providers" (contracts.triton.PARAMS.PROVIDERS): CPU by default; CUDA for bench/gpu.sh
        providers = params.get("execution_providers", "CPUExecutionProvider").split(",")
        if "CUDAExecutionProvider" in providers and hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # the CUDA/cuDNN libraries of the nvidia-* wheels
        self.session = ort.InferenceSession(path, opts, providers=providers)
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests):
        feeds = {
            name: [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests] for name in self.inputs
        }
        sizes = [len(a) for a in feeds[self.inputs[0]]]
        results = self.session.run(self.outputs, {k: np.concatenate(v) for k, v in feeds.items()})
        cuts = np.cumsum(sizes)[:-1]
        split = [np.split(r, cuts) for r in results]
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor(name, split[j][i]) for j, name in enumerate(self.outputs)])
            for i in range(len(requests))
        ]
