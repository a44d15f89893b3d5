"""Training choices made on held-out rows: source weights, the background bias, the uncertain band."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import training_set

from gqr.decision import Reason
from gqr.guard import GuardRule
from gqr.training import (
    TrainConfig,
    TrainingSet,
    _weights,
    background_bias,
    domain_bias,
    train_router,
    uncertain_band,
    unsafe_floor,
)


def test_sources_weigh_alike_within_a_class_and_classes_keep_their_total() -> None:
    y = np.array([0] * 90 + [0] * 10 + [1] * 50)
    sources = ["big"] * 90 + ["small"] * 10 + ["only"] * 50
    plain = _weights(y, 2, 1.0)
    for power, ratio in ((0.0, 1.0), (0.5, 3.0), (1.0, 9.0)):
        w = _weights(y, 2, 1.0, sources, power)
        assert w[95] / w[0] == pytest.approx(ratio)  # a row of the small source vs the big one
        assert w[:100].sum() == pytest.approx(plain[:100].sum()) and w.mean() == pytest.approx(1.0)


def test_background_bias_balances_acceptance_and_rejection() -> None:
    rng = np.random.default_rng(0)
    # Two domains and one background column; in-domain rows lose to the background by 1.0.
    y = np.array([0] * 100 + [1] * 100 + [2] * 100)
    logits = rng.normal(0, 0.1, (300, 3))
    logits[np.arange(200), y[:200]] += 2.0
    logits[:200, 2] += 3.0  # the background column wins every in-domain row by about 1
    logits[200:, 2] += 5.0
    shift = background_bias(logits, y, 2)
    assert -4.0 <= shift <= -1.0  # enough to accept the in-domain rows, not the outliers
    z = logits.copy()
    z[:, 2] += shift
    assert (z[:200].argmax(axis=1) == y[:200]).mean() > 0.95 and (z[200:].argmax(axis=1) == 2).all()
    assert background_bias(logits[:200, :2], y[:200], 2) == 0.0  # no background column: no shift


def test_uncertain_band_holds_the_errors_within_the_share() -> None:
    p = np.linspace(0.0, 1.0, 1000, endpoint=False)
    wrong = (p >= 0.40) & (p < 0.45)  # every error sits in one narrow band
    low, high, capture = uncertain_band(p, wrong, 0.10)
    assert low <= 0.40 and high >= 0.45 and capture["errors_flagged"] == 1.0
    assert capture["flagged"] <= 0.10 + 1e-9
    assert uncertain_band(p, np.zeros_like(wrong), 0.10)[2]["errors_flagged"] == 0.0


def test_training_records_bias_and_zone_on_held_out_rows(small_corpus) -> None:  # type: ignore[no-untyped-def]
    data = training_set(small_corpus)
    trained = train_router(data, TrainConfig(model="svm", seed=0))
    zone = trained.metrics["uncertain_zone"]
    assert zone["flagged"] <= 0.10 + 1e-9 and zone["model"] == "errors"
    assert [trained.guard.uncertain_low, trained.guard.uncertain_high] == zone["band"]  # kept for reference
    assert trained.metrics["background_bias"] == (trained.guard.logit_bias[-1] if trained.guard.logit_bias else 0.0)
    plain = train_router(data, TrainConfig(model="svm", seed=0, balance_background=False, uncertain_share=0.0))
    assert plain.guard.logit_bias == () and plain.metrics["background_bias"] == 0.0
    g = plain.guard
    assert (g.uncertain_low, g.uncertain_high) == pytest.approx((max(0.0, g.threshold - 0.15), min(1.0, g.threshold + 0.15)))


def test_sources_reach_training(small_corpus) -> None:  # type: ignore[no-untyped-def]
    data = training_set(small_corpus)
    one_source = TrainingSet(data.domains, data.background, {c: ["a"] * len(v) for c, v in data.domains.items()})
    assert one_source.source_of("law") == ["a"] * len(data.domains["law"])
    assert one_source.source_of("unsafe") == [""] * len(data.background["unsafe"])


def test_unsafe_floor_keeps_benign_sources_from_being_called_unsafe() -> None:
    # A benign source whose rows are called unsafe with p = 0.3..0.6; real unsafe rows at 0.9.
    p = np.r_[np.linspace(0.3, 0.6, 100), np.full(100, 0.9), np.full(100, 0.1)]
    called = np.r_[np.ones(100, bool), np.ones(100, bool), np.zeros(100, bool)]
    benign = np.r_[np.ones(100, bool), np.zeros(100, bool), np.ones(100, bool)]
    sources = ["lookalike"] * 100 + ["harmful"] * 100 + ["chat"] * 100
    floor, worst = unsafe_floor(called, p, benign, sources, 0.02)
    assert 0.59 <= floor <= 0.61 and worst <= 0.02
    assert unsafe_floor(called, p, benign, sources, 1.0) == (0.0, 1.0)  # nothing to fix at a 100% target
    # Sources under min_rows do not count.
    assert unsafe_floor(called, p, benign, sources, 0.02, min_rows=101) == (0.0, 0.0)


def test_guard_demotes_weak_unsafe_calls_to_out_of_domain() -> None:
    guard = GuardRule(("law", "finance"), ("out_of_domain", "unsafe"), threshold=0.5, unsafe_min=0.6)
    probs = np.array([[0.1, 0.1, 0.3, 0.5],    # unsafe wins at 0.5 < 0.6: out_of_domain
                      [0.05, 0.05, 0.2, 0.7],  # unsafe at 0.7: unsafe
                      [0.8, 0.1, 0.05, 0.05]])  # accepted
    decisions = guard.decide(np.log(probs), probs)
    assert [d.reason for d in decisions] == [Reason.OUT_OF_DOMAIN, Reason.UNSAFE, Reason.IN_DOMAIN]
    assert decisions[0].route is None  # still rejected: only the reason changes
    assert GuardRule.from_dict(guard.to_dict()) == guard


def test_domain_bias_lifts_a_starved_domain() -> None:
    rng = np.random.default_rng(1)
    y = np.array([0] * 100 + [1] * 100 + [2] * 100)  # two domains, one background column
    logits = rng.normal(0, 0.1, (300, 3))
    logits[np.arange(100), 0] += 2.0
    logits[100:200, 0] += 1.5  # domain 1's held-out rows look like domain 0
    logits[100:200, 1] += 1.0
    logits[200:, 2] += 3.0
    shift = domain_bias(logits, y, 2)
    z = logits + np.r_[shift, 0.0]
    assert shift[1] - shift[0] >= 0.5 and (z[100:200].argmax(axis=1) == 1).mean() > 0.9
    assert (z[:100].argmax(axis=1) == 0).mean() > 0.9 and (z[200:].argmax(axis=1) == 2).all()
    assert not domain_bias(logits[:100], y[:100], 2).any()  # one domain present: nothing to balance
