"""The cascade measurement and the choice of its uncertain zone (``gqr.judge.cascade``), and
the judge's persistent answer cache (``JudgeConfig(cache_path=...)``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_llm_server import FakeLLMServer, route

from gqr.judge import JudgeClient, JudgeConfig
from gqr.judge.cascade import ID_GROUP, Rows, cascade_scores, choose_band, stratified_sample

DOMAINS = {"law": "legal questions", "finance": "money"}


def test_persistent_cache_answers_a_new_client_and_keys_on_the_model(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "verdicts.sqlite"
    with FakeLLMServer(default=route("law")) as server:
        config = JudgeConfig(server.base_url, "m1", max_retries=0, cache_path=path)
        with JudgeClient(config, DOMAINS) as first:
            assert first.cached("Can my landlord keep my deposit?") is None
            assert first.judge("Can my landlord keep my deposit?").label == "law"
            assert first.stored_seconds("Can my landlord keep my deposit?") is not None
        assert len(server.chat_requests) == 1
        with JudgeClient(config, DOMAINS) as second:  # a new process would see the same file
            assert second.cached("can my landlord keep my deposit?") is not None  # normalised like the LRU
            verdict = second.judge("Can my landlord keep my deposit?")
            assert (verdict.label, verdict.cached) == ("law", True)
            assert second.stats().calls == 0 and second.stats().cache_hits == 1
        assert len(server.chat_requests) == 1
        other = JudgeConfig(server.base_url, "m2", max_retries=0, cache_path=str(path))
        with JudgeClient(other, DOMAINS) as third:  # another model: its own answers
            assert third.cached("Can my landlord keep my deposit?") is None
            third.judge("Can my landlord keep my deposit?")
        with JudgeClient(config, {**DOMAINS, "law": "courts only"}) as fourth:  # another prompt
            assert fourth.cached("Can my landlord keep my deposit?") is None
        assert len(server.chat_requests) == 2


def test_failures_are_not_stored(tmp_path: Path) -> None:
    from fake_llm_server import raw

    from gqr.errors import JudgeError

    with FakeLLMServer(default=raw("not json", code=200, content_type="application/json")) as server:
        config = JudgeConfig(server.base_url, "m", max_retries=0, answer_format="text", cache_path=tmp_path / "c.sqlite")
        with JudgeClient(config, DOMAINS) as client, pytest.raises(JudgeError):
            client.judge("Is this legal?")
        with JudgeClient(config, DOMAINS) as client:
            assert client.cached("Is this legal?") is None


def test_cache_path_must_be_a_path() -> None:
    from gqr.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="cache_path"):
        JudgeConfig("http://127.0.0.1:1/v1", "m", cache_path="  ")


def _rows(n: int = 1000, seed: int = 0) -> tuple[Rows, np.ndarray]:
    """Half in-domain, half OOD; the router is wrong exactly in [0.4, 0.6), the judge right
    everywhere except in [0.6, 0.7)."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    group = np.where(np.arange(n) % 2 == 0, ID_GROUP, "ood")
    router_right = ~((p >= 0.4) & (p < 0.6))
    judge_right = np.where((p >= 0.6) & (p < 0.7), 0.0, 1.0)
    return Rows(p, group, router_right, judge_right, np.ones(n, bool)), p


def test_cascade_scores_exact_and_estimated() -> None:
    rows, p = _rows()
    alone = cascade_scores(rows, 0.0, 0.0)
    assert alone["escalated"] == 0 and alone["gqr_score"] == pytest.approx(alone["router"]["gqr_score"])
    fixed = cascade_scores(rows, 0.4, 0.6)
    assert fixed["id_accuracy"] == fixed["ood_accuracy"] == pytest.approx(1.0) and fixed["judged"] == 1.0
    # only every other escalated row judged: the rest are scored at the judge's accuracy there
    half = Rows(rows.p, rows.group, rows.router_right, np.where(np.arange(len(p)) % 4 < 2, rows.judge_right, np.nan),
                rows.escalable)
    est = cascade_scores(half, 0.4, 0.6)
    assert est["judged"] == pytest.approx(0.5, abs=0.1) and est["gqr_score"] == pytest.approx(1.0)


def test_choose_band_finds_the_routers_errors_within_the_share() -> None:
    rows, p = _rows()
    best = choose_band(rows, max_share=0.25)
    assert (best["low"], best["high"]) == (0.4, 0.6)
    assert best["gqr_score"] == pytest.approx(1.0) and best["escalated_share"] <= 0.25
    narrow = choose_band(rows, max_share=0.10)
    assert narrow["escalated_share"] <= 0.10 and narrow["gain"] > 0
    assert 0.4 <= narrow["low"] < narrow["high"] <= 0.6
    useless = Rows(rows.p, rows.group, np.ones(len(p), bool), rows.judge_right, rows.escalable)
    assert (choose_band(useless)["low"], choose_band(useless)["high"]) == (0.0, 0.0)  # nothing to gain
    with pytest.raises(ValueError):
        choose_band(rows, max_share=0)


def test_stratified_sample_is_seeded_and_stays_in_the_region() -> None:
    rows, p = _rows()
    a = stratified_sample(rows, {ID_GROUP: 10, "ood": 5}, region=(0.2, 0.8), seed=1)
    b = stratified_sample(rows, {ID_GROUP: 10, "ood": 5}, region=(0.2, 0.8), seed=1)
    assert np.array_equal(a, b) and len(a) == 15 and len(set(a.tolist())) == 15
    assert np.all((p[a] >= 0.2) & (p[a] < 0.8))
    assert (rows.group[a] == ID_GROUP).sum() == 10


@pytest.mark.parametrize(("args", "message"), [
    (["--artifact", "no/such/model"], "not an exported model directory"),
    (["--judge-band", "0.7,0.3"], "LOW < HIGH"),
    (["--judge-band", "half"], "LOW,HIGH"),
    (["--judge-max-calls", "-1"], "--judge-max-calls"),
])
def test_bench_judge_options_are_checked_before_the_run(args: list[str], message: str, svm_artifact: Path) -> None:
    from typer.testing import CliRunner

    from gqr.cli import app

    base = ["bench", "--artifact", str(svm_artifact), "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "m"]
    result = CliRunner().invoke(app, [*base, *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_choose_cascade_zone_on_a_validation_set(svm_artifact: Path, small_corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A judge that rejects everything: the band it earns can only hold rows the router let
    through wrongly; a second run with max_calls=0 asks nothing and chooses the same band."""
    from conftest import training_set

    from gqr.judge.cascade import choose_cascade_zone
    from gqr.router import Router
    from gqr.training import TrainingSet

    full = training_set(small_corpus)
    val = TrainingSet({k: v[:40] for k, v in full.domains.items()}, {k: v[:40] for k, v in full.background.items()})
    router = Router.load(svm_artifact)
    with FakeLLMServer(default=route(None, "out_of_domain")) as server:
        config = JudgeConfig(server.base_url, "m", max_retries=0, max_concurrency=1, cache_path=tmp_path / "v.sqlite")
        with JudgeClient.for_router(config, router) as client:
            zone = choose_cascade_zone(router, val, client, max_share=0.3, region=(0.0, 1.0), per_group=8)
        asked = len(server.chat_requests)
        with JudgeClient.for_router(config, router) as client:
            again = choose_cascade_zone(router, val, client, max_share=0.3, region=(0.0, 1.0), per_group=8, max_calls=0)
        assert len(server.chat_requests) == asked
    assert 0 < asked <= 8 * 4 and zone["calls"]["answered"] == asked
    assert (again["low"], again["high"], again["gqr_score"]) == (zone["low"], zone["high"], zone["gqr_score"])
    assert zone["escalated_share"] <= 0.3 and zone["gqr_score"] >= zone["router"]["gqr_score"]
    assert set(zone["current"]) >= {"gqr_score", "escalated_share"}
