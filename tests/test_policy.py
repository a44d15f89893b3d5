"""The uncertain-zone policies on hand-made decisions (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gqr.decision import Decision, Reason
from gqr.errors import InvalidInputError
from gqr.policy import resolve
from gqr.router import Router

SCORES = {"finance": 0.40, "healthcare": 0.02, "law": 0.03}


def _uncertain(reason: Reason) -> Decision:
    return Decision(None, reason, 0.55, dict(SCORES), uncertain=True)


def test_accept_takes_uncertain_out_of_domain_rejections_to_their_top_domain() -> None:
    (d,) = resolve([_uncertain(Reason.OUT_OF_DOMAIN)], ["q"], "accept")
    assert (d.route, d.reason, d.confidence) == ("finance", Reason.IN_DOMAIN, 0.40)


def test_accept_never_overrides_unsafe_or_other_language() -> None:
    kept = [_uncertain(Reason.UNSAFE), _uncertain(Reason.OTHER_LANGUAGE), Decision.unsafe("weapons", dict(SCORES))]
    out = resolve(kept, ["a", "b", "c"], "accept")
    assert [(d.route, d.reason) for d in out] == [(None, Reason.UNSAFE), (None, Reason.OTHER_LANGUAGE), (None, Reason.UNSAFE)]
    assert out[2].detail == "matched unsafe rule 'weapons'"


def test_reject_turns_uncertain_acceptances_into_rejections() -> None:
    accepted = Decision("law", Reason.IN_DOMAIN, 0.6, dict(SCORES), uncertain=True)
    confident = Decision("law", Reason.IN_DOMAIN, 0.9, dict(SCORES))
    out = resolve([accepted, confident], ["a", "b"], "reject")
    assert (out[0].route, out[0].reason) == (None, Reason.OUT_OF_DOMAIN) and abs(out[0].confidence - 0.4) < 1e-9
    assert out[1] == confident


def test_router_refuses_a_judge_built_for_other_domains(svm_artifact: Path) -> None:
    class Judge:
        domains = {"law": "legal questions", "tax": "tax questions"}

    with pytest.raises(InvalidInputError, match="for_router"):
        Router.load(svm_artifact, uncertain="judge", judge=Judge())
    router = Router.load(svm_artifact)
    Judge.domains = {name: "x" for name in router.labels}
    matching = Judge()
    assert router.with_options(uncertain="judge", judge=matching).judge is matching


def test_route_batch_with_probabilities_matches_route_batch(svm_artifact: Path) -> None:
    router = Router.load(svm_artifact)
    texts = ["What is an ETF?", "", "Can I sue my landlord?", b"\xff"]
    decisions, probs = router.route_batch_with_probabilities(texts)
    assert decisions == router.route_batch(texts)
    assert probs.shape == (4, len(router.columns))
    assert not probs[1].any() and not probs[3].any()  # invalid rows
    for row, d in zip(probs[[0, 2]], [decisions[0], decisions[2]]):
        assert abs(row.sum() - 1) < 1e-5
        assert [round(float(p), 6) for p in row[: len(router.labels)]] == [round(d.scores[name], 6) for name in router.labels]
