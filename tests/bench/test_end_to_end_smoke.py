"""The mixed stream on the split CPU layout, as a smoke of `bench.end_to_end --quick`: the row that once came out at
0.22 of raw Triton (request timeouts cascading into resent work) cannot fall that far again unseen. Speed itself is
measured by the benchmark (three rounds, medians in the README), not here: the floor is a generous one."""

import json
import subprocess
import sys

import pytest

from tests.helpers.stream import ROOT

pytestmark = pytest.mark.stack
FLOOR = 0.75  # this quick row: 0.95-0.96 fixed; 0.63 before the fix (0.41 on 600 posts, 0.22 on 3,000)


def test_mixed_stream_on_the_split_layout_keeps_up_with_raw_triton(stack, tmp_path):
    out = tmp_path / "end_to_end.json"
    cmd = [sys.executable, "-m", "bench.end_to_end", "--only", "mixed", "--cpus", "split", "--quick", "--repeat", "1"]
    res = subprocess.run([*cmd, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    row = json.loads(out.read_text())["layouts"]["split"]["streams"]["mixed"]
    run = row["runs"]["micro-batch, concurrency 2"]
    assert run["n"]["median"] == 200  # every post of the backlog came out (labelled or dead-lettered)
    assert run["e2e_over_raw"]["median"] >= FLOOR, res.stdout[-3000:]
