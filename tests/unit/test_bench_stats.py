"""The benchmarks' repeat folding (bench/common.py): medians and spreads of nested results."""

import math

from bench.common import repeated, stat


def test_numbers_fold_to_median_min_max_and_spread_key_by_key():
    runs = [
        {"rate": 10.0, "n": 3, "layout": "split", "per": {"a": 1.0, "b": 5.0}},
        {"rate": 12.0, "n": 3, "layout": "split", "per": {"a": 3.0}},
        {"rate": 8.0, "n": 3, "layout": "split", "per": {"a": 2.0, "b": 1.0}},
    ]
    out = repeated(runs)
    assert out["rate"] == {"median": 10.0, "min": 8.0, "max": 12.0, "spread": 0.4, "runs": [10.0, 12.0, 8.0]}
    assert out["n"]["median"] == 3 and out["n"]["spread"] == 0
    assert out["layout"] == "split"
    assert out["per"] == {"a": {"median": 2.0, "min": 1.0, "max": 3.0, "spread": 1.0, "runs": [1.0, 3.0, 2.0]}}


def test_a_spread_wider_than_a_fifth_is_flagged():
    assert stat(repeated([10.0, 10.5, 11.0])) == "10.5 (10.0-11.0)"
    assert stat(repeated([10.0, 13.0, 11.0])) == "11.0 (10.0-13.0)!"
    assert math.isnan(repeated([0.0, 0.0, 0.0])["spread"])
