"""``gqr.bench`` on a tiny real benchmark: per-row outcomes, JSON, the router + judge row."""

from __future__ import annotations

import json
import os
import platform
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import Corpus, training_set
from typer.testing import CliRunner

from gqr.bench import BenchmarkResult, EvalSuite, checks_table, leaderboard, run_benchmark
from gqr.checks import NOT_UNSAFE
from gqr.features import HashingConfig
from gqr.metrics import SetRows, reliability, threshold_sweep, zone_summary

OOD = ["jigsaw", "olid", "hatexplain", "slovak_hate", "dkhate", "web_questions", "ml_questions"]
UNSAFE = ("jigsaw", "olid", "hatexplain", "slovak_hate", "dkhate")
PARAMS = {"svm": {"hashing": HashingConfig(n_features=2**14)}}


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def tiny_suite(bench_dir: Path, corpus: Corpus, per_set: int = 40) -> EvalSuite:
    """Seeded slices of the real GQR-Bench: 20 exact-sample rows per domain, ``per_set`` rows
    of each OOD set, and the corpus's validation rows as the held-out ID set."""
    rng = random.Random(5)
    exact = _read(bench_dir / "id" / "gqr_exact_sample.jsonl")
    picked = [r for d in ("law", "finance", "healthcare") for r in rng.sample([r for r in exact if r["domain"] == d], 20)]
    held = [(t, corpus.classes[y]) for t, y in zip(corpus.val_texts, corpus.val_y) if y < 3]
    ood = {name: [r["text"] for r in rng.sample(_read(bench_dir / "ood" / f"{name}.jsonl"), per_set)] for name in OOD}
    checks = {f"heldout_{c}": ([t for t, y in zip(corpus.val_texts, corpus.val_y) if corpus.classes[y] == c], c)
              for c in corpus.classes[3:]}
    lookalikes = _read(bench_dir.parent / "train" / "safe_lookalikes.jsonl")
    checks["safe_lookalikes"] = ([r["text"] for r in rng.sample(lookalikes, per_set)], NOT_UNSAFE)
    return EvalSuite(
        id_sets={"id_exact": ([r["text"] for r in picked], [r["domain"] for r in picked]),
                 "id_heldout": ([t for t, _ in held], [d for _, d in held])},
        ood_sets=ood,
        unsafe_sets=UNSAFE,
        checks=checks,
    )


def run_tiny(bench_dir: Path, corpus: Corpus, cache: Path, judge: object = None) -> BenchmarkResult:
    """One svm router on the tiny suite (trained once per cache directory)."""
    return run_benchmark(["svm"], training_set(corpus), tiny_suite(bench_dir, corpus), cache_dir=cache, seed=0,
                         params=PARAMS, latency_queries=30, latency_repeats=1, judge=judge)


def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One router cache for the whole test session: the tiny svm is trained once."""
    path = tmp_path_factory.getbasetemp() / "tiny-bench-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def tiny(bench_dir: Path, small_corpus: Corpus, cache: Path) -> BenchmarkResult:
    return run_tiny(bench_dir, small_corpus, cache)


def test_rows_reproduce_every_accuracy(tiny: BenchmarkResult) -> None:
    m = tiny.models[0]
    for name, acc in {**m.scores.id_sets, **m.scores.ood_sets}.items():
        assert m.rows[name].correct.mean() == pytest.approx(acc)
    assert len(m.rows["id_exact"]) == 60 and all(len(m.rows[n]) == 40 for n in OOD)
    assert m.kind == "router" and m.labels == ["law", "finance", "healthcare"]


def test_rows_agree_with_the_guard_rule(tiny: BenchmarkResult) -> None:
    """Accepted rows clear the MSP threshold, lose to no rejection column and go to their top domain."""
    m = tiny.models[0]
    assert m.guard["method"] == "msp"
    rows = SetRows.concat(list(m.rows.values()))
    accepted = rows.pred >= 0
    assert accepted.any() and (~accepted).any()
    assert np.all(rows.p_domain[accepted] >= m.guard["threshold"] - 1e-6)
    assert not rows.background[accepted].any()
    assert np.array_equal(rows.pred[accepted], rows.top_domain[accepted])
    if m.guard.get("error_model"):  # the zone of the router's error model: some rows, mostly wrong ones
        assert 0.0 < rows.uncertain.mean() <= 0.3
        assert rows.uncertain[~rows.correct].mean() > rows.uncertain[rows.correct].mean()
    else:
        band = (rows.p_domain >= m.guard["uncertain_low"] - 1e-6) & (rows.p_domain < m.guard["uncertain_high"] + 1e-6)
        assert not rows.uncertain[~band].any()
    assert np.all((rows.confidence > 0) & (rows.confidence <= 1 + 1e-6))
    assert not rows.judged.any()


def test_results_json_has_settings_machine_and_packages(tiny: BenchmarkResult, tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    tiny.write_json(out)
    data = json.loads(out.read_text())
    assert data["format"] == "gqr-bench-results" and data["settings"]["seed"] == 0
    assert data["settings"]["params"]["svm"]["hashing"]["n_features"] == 2**14
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"] and data["machine"]["os"]
    assert data["machine"]["cores"] == os.cpu_count() and data["machine"]["os"] == platform.platform()
    assert data["machine"]["machine"] == platform.machine()
    assert data["packages"]["numpy"] == np.__version__
    model = data["models"][0]
    assert model["gqr_score"] == pytest.approx(tiny.models[0].scores.gqr_score)
    assert list(model["ood_sets"]) == OOD  # benchmark order survives the file
    assert SetRows.from_dict(model["rows"]["olid"]).correct.mean() == pytest.approx(model["ood_sets"]["olid"], abs=1e-9)
    stages = model["latency"]
    assert stages["onnx_p50_us"] > 0 and stages["featurize_p50_us"] > 0  # the two stages of route(), timed apart
    ci = model["analysis"]["ci"]["gqr_score"]
    assert ci["low"] <= model["gqr_score"] <= ci["high"]


def test_checks_agree_with_the_decisions(tiny: BenchmarkResult, bench_dir: Path, small_corpus: Corpus) -> None:
    """Recall per domain, reason accuracy, unsafe false positives and the uncertain zone's
    error capture, recomputed here from the router's own decisions."""
    from gqr.router import Router

    (m,) = tiny.models
    router = Router.load(m.artifact)
    suite = tiny_suite(bench_dir, small_corpus)
    texts, labels = suite.id_sets["id_heldout"]
    decisions = router.route_batch(texts)
    for domain in ("law", "finance", "healthcare"):
        mine = [d.route == domain for d, y in zip(decisions, labels) if y == domain]
        assert m.checks["recall"]["id_heldout"][domain] == pytest.approx(sum(mine) / len(mine))
    wrong = [d.route != y for d, y in zip(decisions, labels)]
    flagged = [d.uncertain for d in decisions]
    capture = m.checks["capture"]["id_heldout"]
    assert capture["errors"] == sum(wrong)
    assert capture["flagged"] == pytest.approx(sum(flagged) / len(flagged))
    unsafe_texts, expected = suite.checks["heldout_unsafe"]
    right = [d.route is None and d.reason.value == expected for d in router.route_batch(unsafe_texts)]
    assert m.checks["reason_accuracy"]["heldout_unsafe"] == pytest.approx(sum(right) / len(right))
    jig = router.route_batch(suite.ood_sets["jigsaw"])
    assert m.checks["reason_accuracy"]["jigsaw"] == pytest.approx(sum(d.reason.value == "unsafe" for d in jig) / len(jig))
    looks = router.route_batch(suite.checks["safe_lookalikes"][0])
    assert m.checks["reason_accuracy"]["safe_lookalikes"] == pytest.approx(
        sum(d.reason.value != "unsafe" for d in looks) / len(looks))
    table = checks_table(tiny)
    assert "recall exact/held-out" in table and "uncertain zone" in table and "safe_lookalikes=" in table


def test_benchmark_inputs_hold_out_sources_and_part_of_the_controls(bench_dir: Path, train_dir: Path) -> None:
    from gqr.bench import benchmark_inputs
    from gqr.datasets import load_local_benchmark

    names = ["law_questions", "finance_reddit", "healthcare_questions", "outliers_howto", "safe_lookalikes"]
    bench = load_local_benchmark(bench_dir, train_dir, pools=names)
    train, val, suite, info = benchmark_inputs(bench, 0)
    (lookalikes,) = bench.control_pools()
    held, expected = suite.checks["safe_lookalikes_heldout"]
    assert expected == NOT_UNSAFE and held and set(held) <= set(lookalikes.texts)
    trained = set(train.background["out_of_domain"]) | set(val.background["out_of_domain"])
    assert not set(held) & trained and set(lookalikes.texts) & trained  # some trained on, the rest held out
    # Held-out law sources are sources the router never trained on.
    test_law = {s for t, s in zip(*_law_rows(bench)) if t in set(suite.id_sets["id_heldout"][0])}
    assert test_law and not test_law & set(train.source_of("law"))
    assert "law_questions" in info["splits"]["held_out_by_source"]
    plain = benchmark_inputs(bench, 0, controls_as_negatives=False)
    assert plain[2].checks["safe_lookalikes"][0] == list(lookalikes.texts)
    assert not set(lookalikes.texts) & set(plain[0].background["out_of_domain"])


def _law_rows(bench):  # type: ignore[no-untyped-def]
    (pool,) = [p for p in bench.pools if p.name == "law_questions"]
    return pool.texts, pool.sources


def test_plain_leaderboard_lists_every_set(tiny: BenchmarkResult) -> None:
    text = leaderboard(tiny)
    assert all(name in text for name in OOD) and "svm" in text and "gqr" in text and "onnx_p50_us" in text


def test_router_plus_judge_row_against_a_real_http_server(
    bench_dir: Path, small_corpus: Corpus, tiny: BenchmarkResult, cache: Path, tmp_path: Path
) -> None:
    """A scripted OpenAI-compatible server rejects everything it is asked about: exactly the
    uncertain rows change, to rejections, every call is accounted for, and a re-run with the
    persistent answer cache asks nothing again."""
    from dataclasses import replace

    from fake_llm_server import FakeLLMServer, route

    from gqr.bench import JudgeRun
    from gqr.judge import JudgeConfig
    from gqr.report import cascade_table

    base = tiny.models[0]
    uncertain = sum(int(base.rows[n].uncertain.sum()) for n in ["id_exact", *OOD])
    assert uncertain > 0, "the tiny router has no uncertain rows: the judge would not be exercised"
    with FakeLLMServer(default=route(None, "out_of_domain")) as server:
        config = JudgeConfig(server.base_url, "fake-model", timeout=5.0, max_retries=0,
                             cache_path=str(tmp_path / "verdicts.sqlite"))
        result = run_tiny(bench_dir, small_corpus, cache, judge=JudgeRun(config, heldout_rows=20, latency_queries=30))
        first = len(server.chat_requests)
        again = run_tiny(bench_dir, small_corpus, cache, judge=JudgeRun(config, heldout_rows=20, latency_queries=0))
        assert len(server.chat_requests) == first  # every verdict came from the persistent cache
        capped = run_tiny(bench_dir, small_corpus, cache,
                          judge=JudgeRun(replace(config, cache_path=str(tmp_path / "other.sqlite")), max_calls=3,
                                         heldout_rows=0, latency_queries=0))
        assert len(server.chat_requests) - first <= 3
    plain, judged = result.models
    assert (plain.name, judged.name, judged.kind) == ("svm", "svm+judge", "router+judge")
    for name, rows in judged.rows.items():
        before = plain.rows[name]
        assert np.array_equal(rows.judged, before.uncertain)
        assert np.all(rows.pred[rows.judged] == -1)
        assert np.array_equal(rows.pred[~rows.judged], before.pred[~rows.judged])
    j = judged.judge
    bench_scope = j["scopes"]["gqr_bench"]
    assert bench_scope["escalated"] == uncertain and bench_scope["asked"] == uncertain and not bench_scope["estimate"]
    assert bench_scope["router"]["gqr_score"] == pytest.approx(plain.scores.gqr_score)
    assert j["stats"]["failures"] == 0 and 0 < j["stats"]["calls"] <= j["escalated_rows"]
    assert first == j["stats"]["calls"] + j["timing"]["stats"]["calls"]
    assert "heldout" in j["scopes"] and j["scopes"]["heldout"]["rows"] <= 20 * 5
    assert judged.latency["p50_us"] > 0 and judged.batch_qps is None
    assert "svm+judge" in leaderboard(result) and "GQR-Bench" in cascade_table(result.to_dict())
    assert again.models[1].judge["new_calls"] == 0
    assert again.models[1].scores.gqr_score == pytest.approx(judged.scores.gqr_score)
    est = capped.models[1].judge["scopes"]["gqr_bench"]
    assert est["asked"] <= 3 and est["estimate"] == (est["escalated"] > est["asked"])
    ood_before = np.mean([plain.rows[n].correct.mean() for n in OOD])
    assert judged.scores.ood_accuracy >= ood_before  # rejecting never hurts OOD rows
    # exactly: an OOD row is right after the judge iff it was right before or the judge saw it
    for name in OOD:
        before, after = plain.rows[name], judged.rows[name]
        assert np.array_equal(after.correct, before.correct | before.uncertain)
        assert judged.scores.ood_sets[name] == pytest.approx(after.correct.mean(), abs=1e-12)
    expected = np.mean([(plain.rows[n].correct | plain.rows[n].uncertain).mean() for n in OOD])
    assert judged.scores.ood_accuracy == pytest.approx(expected, abs=1e-12)
    fixed = sum(int((plain.rows[n].uncertain & ~plain.rows[n].correct).sum()) for n in OOD)  # rejected: now right
    broken = int((plain.rows["id_exact"].uncertain & plain.rows["id_exact"].correct).sum())  # rejected: now wrong
    assert (bench_scope["fixed"], bench_scope["broken"]) == (fixed, broken)


def _rows(truth: list[int], pred: list[int], p: list[float], background: list[bool], uncertain: list[bool]) -> SetRows:
    n = len(truth)
    return SetRows(np.array(truth), np.array(pred), np.array(p, dtype=float), np.array(p, dtype=float),
                   np.array([max(t, 0) for t in truth]), np.array(background), np.array(uncertain), np.zeros(n, bool))


def test_zone_summary_counts_and_accuracy() -> None:
    rows = _rows([0, 1, -1, -1, 2], [0, -1, -1, 1, 2], [0.9, 0.4, 0.2, 0.55, 0.6], [False] * 5,
                 [False, False, False, True, True])
    zones = zone_summary(rows)
    assert zones["confident_accept"]["rows"] == 1 and zones["confident_accept"]["accuracy"] == 1.0
    assert zones["confident_reject"]["rows"] == 2 and zones["confident_reject"]["accuracy"] == 0.5
    assert zones["uncertain"]["share"] == pytest.approx(0.4) and zones["uncertain"]["accuracy"] == 0.5
    assert zones["uncertain"]["id_rows"] == 1 and zones["uncertain"]["ood_rows"] == 1


def test_reliability_of_a_perfectly_and_a_badly_calibrated_model() -> None:
    conf = np.full(1000, 0.8)
    right = np.arange(1000) < 800
    assert reliability(conf, right)["ece"] == pytest.approx(0.0)
    assert reliability(conf, np.ones(1000, bool))["ece"] == pytest.approx(0.2)
    bins = reliability(conf, right)["bins"]
    assert sum(b["rows"] for b in bins) == 1000 and len(bins) == 10


def test_threshold_sweep_ends() -> None:
    id_rows = _rows([0, 1, 2, 0], [0, 1, 2, -1], [0.9, 0.7, 0.5, 0.3], [False, False, False, True], [False] * 4)
    ood = {"a": _rows([-1, -1], [-1, -1], [0.6, 0.2], [False, True], [False, False])}
    sweep = threshold_sweep(id_rows, ood, [0.0, 0.55, 1.1])
    assert sweep["id_accuracy"] == pytest.approx([0.75, 0.5, 0.0])  # the background row is never accepted
    assert sweep["ood_accuracy"] == pytest.approx([0.5, 0.5, 1.0])
    assert sweep["gqr_score"][2] == 0.0


def test_judge_needs_both_url_and_model() -> None:
    from gqr.cli import app

    result = CliRunner().invoke(app, ["bench", "--models", "svm", "--judge-url", "http://127.0.0.1:9/v1"])
    assert result.exit_code == 2
    assert "--judge-model" in result.output


def test_bench_outputs_json_and_report(tiny: BenchmarkResult, tmp_path: Path) -> None:
    from gqr.cli.bench import write_outputs

    write_outputs(tiny.to_dict(), tmp_path / "o.json", tmp_path / "rep")
    assert json.loads((tmp_path / "o.json").read_text())["models"][0]["analysis"]["zones"]
    assert {p.name for p in (tmp_path / "rep").iterdir()} >= {"report.md", "report.html", "results.json"}


def test_output_places_are_checked_before_the_run(tmp_path: Path) -> None:
    """A bad --json fails at once (exit 2) instead of after a long benchmark; missing parent
    folders are created."""
    from gqr.cli import app
    from gqr.cli.bench import prepare_outputs

    result = CliRunner().invoke(app, ["bench", "--models", "svm", "--json", str(tmp_path), "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "is a directory" in result.output
    prepare_outputs(tmp_path / "a" / "b" / "out.json", tmp_path / "rep" / "x")
    assert (tmp_path / "a" / "b").is_dir() and (tmp_path / "rep" / "x").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["bench", "--models", "svm", "--json", str(blocker / "out.json"), "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "--json: cannot create" in result.output
