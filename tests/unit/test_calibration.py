"""The logit adjustment's choice of tau (model/calibration.py), on constructed scores."""

import numpy as np
import pytest

from model.calibration import MIN_LABELLED, TAUS, best_tau, log_prior, offsets
from model.metrics import macro_f1


def _skewed(n_major=900, n_minor=100, seed=0):
    """Scores of a classifier that over-predicts the rare class 1 (as inverse-frequency weighting tends to)."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_major, int), np.ones(n_minor, int)]
    signal = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.0, len(y))
    logits = np.stack([np.zeros(len(y)), signal + 1.5], axis=1)  # +1.5: too much weight on class 1
    return logits - np.logaddexp(logits[:, :1], logits[:, 1:]), y


def test_log_prior_counts_unseen_classes_once():
    prior = log_prior(np.array([0, 0, 0, 1, -1]), 3)
    np.testing.assert_allclose(np.exp(prior), [3 / 5, 1 / 5, 1 / 5])


def test_tau_gives_back_the_prior_to_an_over_weighted_rare_class():
    logp, y = _skewed()
    prior = log_prior(y, 2)
    tau = best_tau(logp, y, prior)
    assert tau < 0  # adds part of log(prior): the frequent class gets some of its weight back
    before = macro_f1(y, logp.argmax(1), 2)
    after = macro_f1(y, (logp - tau * prior).argmax(1), 2)
    assert after > before + 0.05
    assert after == max(macro_f1(y, (logp - t * prior).argmax(1), 2) for t in TAUS)


def test_tau_is_zero_when_the_scores_are_already_right_or_too_few():
    y = np.r_[np.zeros(80, int), np.ones(20, int)]
    logp = np.log(np.where(np.eye(2)[y] == 1, 0.9, 0.1))
    assert best_tau(logp, y, log_prior(y, 2)) == 0.0  # every tau near 0 is perfect: the smallest |tau| wins
    logp, y = _skewed(n_major=MIN_LABELLED - 10, n_minor=9)
    assert best_tau(logp, y, log_prior(y, 2)) == 0.0


@pytest.mark.parametrize("tau", [-0.8, 0.0, 0.5])
def test_offsets_are_minus_tau_log_prior(tau):
    prior = np.log(np.array([0.7, 0.2, 0.1]))
    off = offsets(tau, prior)
    assert off.dtype == np.float32
    np.testing.assert_allclose(off, -tau * prior, rtol=1e-6)
