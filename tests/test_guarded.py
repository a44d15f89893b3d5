"""Uncertain-zone policies and the LLM judge wired into the router (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fake_llm_server import FakeLLMServer, raw, route, status

from gqr.decision import Reason, Source
from gqr.errors import InvalidInputError
from gqr.judge import JudgeClient, JudgeConfig
from gqr.router import Router

DOMAINS = {"law": "legal questions", "finance": "money and investing", "healthcare": "health and medicine"}
QUERIES = [
    "Can my employer withhold my last paycheck?",
    "Is it worth refinancing my mortgage now?",
    "I have had a headache for three days, what should I do?",
    "Who won the 1998 world cup?",
]


def _all_uncertain(artifact: Path, **options: object) -> Router:
    """A router whose uncertain zone (a band, not the error model) covers every query, so each
    one reaches the policy."""
    router = Router.load(artifact, **options)  # type: ignore[arg-type]
    router.guard = replace(router.guard, uncertain_low=0.0, uncertain_high=1.01, error_model=None)
    return router


def _judge(base_url: str, **overrides: object) -> JudgeClient:
    settings: dict[str, object] = {"timeout": 0.5, "max_retries": 1, "backoff_base": 0.001, "backoff_max": 0.01}
    settings.update(overrides)
    return JudgeClient(JudgeConfig(base_url, "fake", **settings), DOMAINS)  # type: ignore[arg-type]


def test_judge_verdicts_replace_uncertain_decisions(svm_artifact: Path, server: FakeLLMServer) -> None:
    server.script(route("law"), route(None, "unsafe"), route("healthcare"), route(None, "out_of_domain"))
    with _judge(server.base_url) as judge:
        router = _all_uncertain(svm_artifact, uncertain="judge", judge=judge)
        out = router.route_batch(QUERIES)
    assert [d.source for d in out] == [Source.JUDGE] * 4
    assert sorted(str(d.route) for d in out) == sorted(["law", "None", "healthcare", "None"])
    assert {d.reason for d in out if d.route is None} == {Reason.UNSAFE, Reason.OUT_OF_DOMAIN}
    assert all(set(d.scores) == set(DOMAINS) for d in out)  # the model's scores are kept


@pytest.mark.parametrize("failure", ["500", "garbage", "slow"])
def test_judge_failures_fall_back_and_never_raise(svm_artifact: Path, server: FakeLLMServer, failure: str) -> None:
    action = {"500": status(500), "garbage": raw("<html>oops</html>"), "slow": replace(route("law"), delay=2.0)}[failure]
    server.default = action
    plain = Router.load(svm_artifact).route_batch(QUERIES[:2])
    with _judge(server.base_url, on_failure="reject") as judge:
        out = _all_uncertain(svm_artifact, uncertain="judge", judge=judge).route_batch(QUERIES[:2])
    assert [d.source for d in out] == [Source.FALLBACK] * 2
    assert all(d.route is None and "judge unavailable (rejected)" in (d.detail or "") for d in out)
    with _judge(server.base_url) as judge:  # the default: the model's own call
        out = _all_uncertain(svm_artifact, uncertain="judge", judge=judge).route_batch(QUERIES[:2])
    assert [d.route for d in out] == [d.route for d in plain]
    assert all("model's call kept" in (d.detail or "") for d in out)


def test_dead_judge_with_model_fallback_keeps_the_models_call(svm_artifact: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plain = Router.load(svm_artifact).route_batch(QUERIES)
    with _judge(f"http://127.0.0.1:{port}/v1", on_failure="model") as judge:
        out = _all_uncertain(svm_artifact, uncertain="judge", judge=judge).route_batch(QUERIES)
    assert [d.route for d in out] == [d.route for d in plain]
    assert {d.source for d in out} == {Source.FALLBACK}


def test_budget_caps_the_escalation_share(svm_artifact: Path, server: FakeLLMServer) -> None:
    server.default = route("law")
    with _judge(server.base_url, max_share=0.25, share_burst=0, cache_size=0) as judge:
        out = _all_uncertain(svm_artifact, uncertain="judge", judge=judge).route_batch([f"question number {i} about rent" for i in range(40)])
        stats = judge.stats()
    assert stats.calls == 10 and len(server.requests) == 10
    assert sum(d.source is Source.JUDGE for d in out) == 10
    assert sum(d.source is Source.FALLBACK for d in out) == 30


def test_async_route_uses_the_judge(svm_artifact: Path, server: FakeLLMServer) -> None:
    server.default = route("finance")
    judge = _judge(server.base_url)
    router = _all_uncertain(svm_artifact, uncertain="judge", judge=judge)

    async def run() -> list:  # type: ignore[type-arg]
        try:
            return await router.aroute_batch(QUERIES + [b"\xff"])
        finally:
            await judge.aclose()

    out = asyncio.run(run())
    judge.close()
    assert [d.route for d in out[:4]] == ["finance"] * 4 and out[4].reason is Reason.INVALID_INPUT


def test_reject_and_accept_policies(svm_artifact: Path) -> None:
    rejecting = _all_uncertain(svm_artifact, uncertain="reject").route_batch(QUERIES)
    accepting = _all_uncertain(svm_artifact, uncertain="accept").route_batch(QUERIES)
    assert all(d.route is None for d in rejecting)
    assert all(d.route in DOMAINS for d in accepting)


def test_confident_queries_never_reach_the_judge(svm_artifact: Path, server: FakeLLMServer) -> None:
    with _judge(server.base_url) as judge:
        router = Router.load(svm_artifact, uncertain="judge", judge=judge)
        router.guard = replace(router.guard, uncertain_low=0.0, uncertain_high=0.0, error_model=None)
        router.route_batch(QUERIES)
    assert server.requests == []


def test_only_uncertain_queries_reach_the_judge(svm_artifact: Path, small_corpus, server: FakeLLMServer) -> None:  # type: ignore[no-untyped-def]
    """With the model's own uncertain zone (its error model), mixed real rows: one judge request per uncertain row."""
    plain = Router.load(svm_artifact)
    assert plain.guard.error_model is not None  # the zone training fits
    decisions = plain.route_batch(small_corpus.val_texts)
    confident = [t for t, d in zip(small_corpus.val_texts, decisions) if not d.uncertain][:4]
    uncertain = [t for t, d in zip(small_corpus.val_texts, decisions) if d.uncertain][:3]
    assert len(confident) == 4 and len(uncertain) == 3, "the session model needs confident and uncertain rows"
    texts = [confident[0], uncertain[0], confident[1], confident[2], uncertain[1], uncertain[2], confident[3]]
    expected = plain.route_batch(texts)
    is_uncertain = [d.uncertain for d in expected]
    assert is_uncertain == [False, True, False, False, True, True, False]
    server.default = route("law")
    with _judge(server.base_url) as judge:
        out = Router.load(svm_artifact, uncertain="judge", judge=judge).route_batch(texts)
    assert len(server.chat_requests) == len(server.requests) == sum(is_uncertain) == 3
    assert [d.source is Source.JUDGE for d in out] == is_uncertain
    asked = [r.query_message for r in server.chat_requests]
    for text, unsure in zip(texts, is_uncertain):
        assert sum(text.strip() in m for m in asked) == (1 if unsure else 0)
    for d, e, unsure in zip(out, expected, is_uncertain):
        if unsure:
            assert (d.route, d.reason) == ("law", Reason.IN_DOMAIN)
        else:  # confident rows keep the model's call untouched
            assert (d.route, d.reason, d.source) == (e.route, e.reason, Source.MODEL)


def test_conformal_sets_cover_held_out_rows(trained_svm, small_corpus) -> None:  # type: ignore[no-untyped-def]
    """At 90% coverage the prediction sets hold the true column on ~90% of unseen rows."""
    probs = trained_svm.scores(small_corpus.val_texts)[1]
    threshold = trained_svm.guard.conformal_threshold(0.9)
    covered = probs[np.arange(len(probs)), small_corpus.val_y] >= threshold
    assert covered.mean() >= 0.8


def test_higher_coverage_means_larger_prediction_sets(trained_svm, small_corpus) -> None:  # type: ignore[no-untyped-def]
    probs = trained_svm.scores(small_corpus.val_texts)[1]
    sizes = [(probs >= trained_svm.guard.conformal_threshold(c)).sum(axis=1).mean() for c in (0.8, 0.95, 0.99)]
    assert sizes[0] <= sizes[1] <= sizes[2] and sizes[2] > sizes[0]
    # rows whose set is not a single column are exactly the ones marked uncertain
    decisions = trained_svm.router(coverage=0.95).route_batch(small_corpus.val_texts)
    single = (probs >= trained_svm.guard.conformal_threshold(0.95)).sum(axis=1) == 1
    assert [d.uncertain for d in decisions] == list(~single)


def test_bad_options_are_refused(svm_artifact: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs a judge"):
        Router.load(svm_artifact, uncertain="judge")
    with pytest.raises(InvalidInputError, match="use one of"):
        Router.load(svm_artifact, uncertain="maybe")
    with pytest.raises(InvalidInputError, match="not calibrated"):
        Router.load(svm_artifact, coverage=0.999)
