"""The Prometheus alert rules shipped with the compose stack (deploy/prometheus/rules/): valid for promtool 2.x, and
their unit tests (emostream_test.yml: the spike alert fires on the gauge and clears with it) pass; the method of
stream/spikes.py against scipy's Poisson tail and on bucket series."""

import math
import shutil
import subprocess

import pytest
from scipy.stats import poisson

from stream.spikes import MIN_COUNT, poisson_tail_score, spikes
from tests.helpers.stream import ROOT

RULES = ROOT / "deploy" / "prometheus" / "rules"


def _promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool missing (Debian package prometheus; scripts/system-deps.sh installs it)"
    return subprocess.run([tool, *args], cwd=RULES, capture_output=True, text=True, timeout=60)


def test_rules_are_valid_and_their_unit_tests_pass():
    check = _promtool("check", "rules", "emostream.yml")
    assert check.returncode == 0 and "SUCCESS: 2 rules found" in check.stdout, check.stdout + check.stderr
    run = _promtool("test", "rules", "emostream_test.yml")
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("count,expected", [(10, 1.0), (30, 5.0), (100, 50.0), (6, 5.0), (20, 0.1), (3, 0.5)])
def test_spike_score_is_the_poisson_upper_tail(count, expected):
    assert poisson_tail_score(count, expected) == pytest.approx(-math.log10(poisson.sf(count - 1, expected)), rel=1e-6)
    assert poisson_tail_score(4, 5.0) == 0.0  # at or under the expectation nothing is unusual


def _buckets(now: int, per_bucket: dict[int, dict[str, int]], bucket_s: int = 10) -> list[dict]:
    """Buckets of the last 65 minutes; `per_bucket`: seconds before now -> counts, others 1 awe per bucket."""
    out = []
    for t in range(now - 3900 // bucket_s * bucket_s, now + 1, bucket_s):
        counts = per_bucket.get(now - t, {"awe": 1})
        out.append({"t": t, "posts": sum(counts.values()), "emotions": counts})
    return out


def test_a_burst_opens_a_spike_and_steady_traffic_does_not():
    now = 1_800_000_000
    steady = spikes(_buckets(now, {}), ["awe", "anger"], now + 5, 10)
    assert not any(s.open for s in steady.values()) and steady["awe"].count == 31  # the window's 31 buckets
    burst = spikes(
        _buckets(now, {0: {"anger": 15, "awe": 1}, 10: {"anger": 15, "awe": 1}}), ["awe", "anger"], now + 5, 10
    )
    a = burst["anger"]
    assert a.open and a.count == 30 and a.score > 20 and a.baseline_per_min == pytest.approx(60 / 3600, abs=1e-4)
    assert not burst["awe"].open
    few = spikes(_buckets(now, {0: {"anger": MIN_COUNT - 1}}), ["anger"], now + 5, 10)["anger"]
    assert not few.open and few.score > 6  # surprising, but a handful of posts is not an event
