"""The compose stack of the test, built and started once for the module, taken down at the end."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from tests.helpers.compose import ROOT, build_images, new_stack, run


@pytest.fixture(scope="module")
def compose_stack(demo_bundle):
    engine_was_running = subprocess.run(["docker", "version"], capture_output=True).returncode == 0
    took = build_images()
    compose_bin = run(["bash", "scripts/docker-engine.sh", "compose"], timeout=1800).strip().splitlines()[-1]
    print("build (s):", {k: round(v, 1) for k, v in took.items()})
    folder = ROOT / "artifacts" / "compose-test" / uuid.uuid4().hex[:8]
    stack = new_stack(
        str(ROOT / compose_bin) if not compose_bin.startswith("/") else compose_bin, demo_bundle.bundle_path, folder
    )
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)
        if not engine_was_running:
            run(["bash", "scripts/docker-engine.sh", "down"])  # only the daemon this session started
