"""Triton Inference Server 2.51 from the nvidia-pytriton wheel, CPU only, python backend, explicit model control."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

from .config import StackConfig
from .proc import StackError

# The serving venv: the python backend stub is built against numpy 1's ABI; onnxruntime runs the exported models.
SERVING_PACKAGES = ["nvidia-pytriton==0.7.0", "numpy==1.26.4"]  # + StackConfig.triton_onnxruntime


class Triton:
    name = "triton"

    def __init__(self, cfg: StackConfig):
        self.cfg = cfg
        self.home = cfg.dir / "triton"
        self.venv = self.home / "venv"
        self.backends = self.home / "backends"
        self.port = cfg.triton_http_port

    @property
    def _server_dir(self) -> Path:
        pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return self.venv / "lib" / pyver / "site-packages" / "pytriton" / "tritonserver"

    def installed(self) -> bool:
        return (self.backends / "python" / "triton_python_backend_stub").exists() and (
            self._server_dir / "bin" / "tritonserver"
        ).exists()

    def install(self) -> None:
        """Create the serving venv and put the python backend and its stub where tritonserver looks."""
        base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        self.home.mkdir(parents=True, exist_ok=True)
        steps = [
            [str(base_python), "-m", "venv", str(self.venv)],
            [str(self.venv / "bin" / "pip"), "install", "-q", *SERVING_PACKAGES, self.cfg.triton_onnxruntime],
        ]
        for cmd in steps:
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise StackError(f"{' '.join(cmd)} failed:\n{res.stdout[-1500:]}\n{res.stderr[-2000:]}")
        stub = (
            self._server_dir
            / "python_backend_stubs"
            / f"{sys.version_info.major}.{sys.version_info.minor}"
            / "triton_python_backend_stub"
        )
        if not stub.exists():
            raise StackError(f"no python backend stub for this Python in the wheel: {stub}")
        shutil.rmtree(self.backends, ignore_errors=True)
        shutil.copytree(self._server_dir / "backends" / "python", self.backends / "python")
        shutil.copy2(stub, self.backends / "python" / "triton_python_backend_stub")

    def prepare(self) -> None:
        self.cfg.triton_model_repo.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        c = self.cfg
        return [
            str(self._server_dir / "bin" / "tritonserver"),
            f"--model-repository={c.triton_model_repo}",
            f"--backend-directory={self.backends}",
            "--model-control-mode=explicit",
            "--exit-on-error=false",
            "--strict-readiness=false",  # ready = serving: a model that failed to load does not unready the server
            f"--http-address={c.host}",
            f"--http-port={c.triton_http_port}",
            f"--grpc-address={c.host}",
            f"--grpc-port={c.triton_grpc_port}",
            f"--metrics-address={c.host}",
            f"--metrics-port={c.triton_metrics_port}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            "--log-verbose=0",
        ]

    def env(self) -> dict[str, str]:
        """LD_LIBRARY_PATH: libpython for the stub and the wheel's bundled libs; PATH: the serving venv first."""
        libs = [sysconfig.get_config_var("LIBDIR"), str(self._server_dir.parent.parent / "nvidia_pytriton.libs")]
        old = os.environ.get("LD_LIBRARY_PATH")
        return {
            "LD_LIBRARY_PATH": ":".join(libs + ([old] if old else [])),
            "PATH": f"{self.venv / 'bin'}:{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.venv),
        }

    def ready(self) -> bool:
        with urllib.request.urlopen(f"http://{self.cfg.triton_http_url}/v2/health/ready", timeout=2) as r:
            return r.status == 200
