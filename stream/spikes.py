"""Spikes: is an emotion (or neutral) arriving faster now than its own recent past says it should?

Method (Poisson upper tail over the event-time buckets of the aggregates, docs/DASHBOARD.md "Spikes"): for each
label, `count` = its posts in the last WINDOW_S seconds of buckets, and its baseline rate = its posts in the
BASELINE_S seconds before that window, plus one (a prior, so a label never seen before still has a rate), over
BASELINE_S. `expected` = baseline rate x window. The spike score is -log10 P(X >= count) for X ~ Poisson(expected):
how surprising the window is if nothing changed (6 = one chance in a million). A spike is *open* when the score is
at least SCORE_OPEN, the window holds at least MIN_COUNT posts (a handful of posts is never an event) and at least
RATIO x expected. Counts, not shares: a surge of all traffic raises every label, which is an event as well; the
share of each label is reported beside it.

Pure functions of the bucket list `Queries.timeseries` returns (no Redis, no clock): computed once per dashboard
snapshot and shared by the page, the API and the Prometheus metrics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = [
    "WINDOW_S",
    "BASELINE_S",
    "MIN_COUNT",
    "SCORE_OPEN",
    "RATIO",
    "Spike",
    "poisson_tail_score",
    "spikes",
    "report",
]

WINDOW_S = 300  # the "now" of a spike: the last five minutes
BASELINE_S = 3600  # what "usual" means: the hour before the window
MIN_COUNT = 10
SCORE_OPEN = 6.0
RATIO = 2.0
MAX_SCORE = 50.0  # scores are capped (a tail below 1e-50 says nothing more)


@dataclass(frozen=True)
class Spike:
    label: str
    count: int  # posts with this label in the window
    expected: float  # what the baseline rate predicts for the window
    rate_per_min: float  # the window's rate
    baseline_per_min: float
    share: float  # of the window's posts
    score: float  # -log10 of the Poisson upper tail
    open: bool

    def to_dict(self) -> dict:
        return asdict(self)


def poisson_tail_score(count: int, expected: float) -> float:
    """-log10 P(X >= count), X ~ Poisson(expected); 0 when count <= expected (nothing unusual)."""
    if count <= expected or count <= 0:
        return 0.0
    # P(X >= k) = 1 - sum_{i<k} pmf(i); for k well above the mean, sum the upper terms from k (log space, stable)
    log_pmf = count * math.log(expected) - expected - math.lgamma(count + 1)
    total, term, i = 1.0, 1.0, count
    while term > 1e-16 * total:
        i += 1
        term *= expected / i
        total += term
    log10_tail = (log_pmf + math.log(total)) / math.log(10)
    return min(MAX_SCORE, max(0.0, -log10_tail))


def spikes(
    buckets: list[dict],
    labels,
    now: float,
    bucket_s: int,
    window_s: int = WINDOW_S,
    baseline_s: int = BASELINE_S,
    field: str = "emotions",
) -> dict[str, Spike]:
    """One Spike per label from event-time buckets ({"t", "posts", field: {label: count}}), as of `now`. A bucket
    belongs to the window when it ends after now - window_s (the current, still filling bucket included)."""
    edge = now - window_s
    window = [b for b in buckets if b["t"] + bucket_s > edge]
    base = [b for b in buckets if edge - baseline_s < b["t"] + bucket_s <= edge]
    posts = sum(b["posts"] for b in window)
    out = {}
    for label in labels:
        count = sum(b[field].get(label, 0) for b in window)
        rate = (sum(b[field].get(label, 0) for b in base) + 1) / baseline_s
        expected = rate * window_s
        score = poisson_tail_score(count, expected)
        out[label] = Spike(
            label,
            count,
            round(expected, 3),
            round(count / window_s * 60, 3),
            round(rate * 60, 4),
            round(count / posts, 4) if posts else 0.0,
            round(score, 2),
            score >= SCORE_OPEN and count >= MIN_COUNT and count >= RATIO * expected,
        )
    return out


def report(found: dict[str, Spike]) -> dict:
    """What the API says of `spikes`' result: every label's figures, and the open spikes, highest score first."""
    return {
        "labels": {k: v.to_dict() for k, v in found.items()},
        "open": [v.to_dict() for v in sorted(found.values(), key=lambda v: -v.score) if v.open],
    }
