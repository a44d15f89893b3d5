"""Shared fixtures: small, seeded slices of the real GQR-Bench copy and training pools."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gqr.classifiers.base import FitData

REPO = Path(__file__).resolve().parent.parent
CLASSES = ["law", "finance", "healthcare", "out_of_domain", "other_language", "unsafe"]


def _bench_dir() -> Path:
    env = os.environ.get("GQR_DATA_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "data" / "gqr-bench"
    if not (path / "ood").is_dir():
        pytest.skip(f"GQR-Bench data not found at {path}; set GQR_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def bench_dir() -> Path:
    return _bench_dir()


@pytest.fixture(scope="session")
def train_dir(bench_dir: Path) -> Path:
    env = os.environ.get("GQR_TRAIN_DIR")
    path = Path(env) if env else bench_dir.parent / "train"
    if not path.is_dir():
        pytest.skip(f"training pools not found at {path}; set GQR_TRAIN_DIR")
    return path


def _read(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


@dataclass
class Corpus:
    """Texts with integer labels indexing ``classes``; ``train`` and ``val`` are disjoint."""

    classes: list[str]
    train_texts: list[str]
    train_y: np.ndarray
    val_texts: list[str]
    val_y: np.ndarray

    def fit_data(self, seed: int = 0, *, balanced: bool = False, sample_weight: np.ndarray | None = None) -> FitData:
        """The backends' training input; ``balanced`` weighs classes inversely to their size."""
        if balanced:
            counts = np.bincount(self.train_y)
            sample_weight = (len(self.train_y) / (len(counts) * counts))[self.train_y]
        return FitData(self.train_texts, self.train_y, len(self.classes), self.val_texts, self.val_y,
                       sample_weight=sample_weight, seed=seed)


@pytest.fixture(scope="session")
def small_corpus(bench_dir: Path, train_dir: Path) -> Corpus:
    """About 120 training and 40 validation rows per class, seeded, from real pools."""
    pools = {
        "law": _read(train_dir / "law_mmlu.jsonl"),
        "finance": _read(bench_dir / "id" / "finance.jsonl"),
        "healthcare": _read(bench_dir / "id" / "healthcare.jsonl"),
        "out_of_domain": _read(train_dir / "outliers_general.jsonl"),
        "other_language": _read(train_dir / "outliers_multilingual.jsonl"),
        "unsafe": _read(train_dir / "outliers_unsafe.jsonl"),
    }
    rng = random.Random(1234)
    tr_x: list[str] = []
    tr_y: list[int] = []
    va_x: list[str] = []
    va_y: list[int] = []
    for label, name in enumerate(CLASSES):
        rows = rng.sample(sorted(set(pools[name])), 160)
        tr_x += rows[:120]
        tr_y += [label] * 120
        va_x += rows[120:]
        va_y += [label] * 40
    return Corpus(CLASSES, tr_x, np.array(tr_y), va_x, np.array(va_y))


@pytest.fixture(scope="session")
def parity_texts(bench_dir: Path) -> list[str]:
    """Real benchmark text with Unicode, emoji, long input and odd spacing (for parity tests)."""
    rng = random.Random(7)
    texts: list[str] = []
    for name in ["jigsaw", "hatexplain", "slovak_hate", "dkhate", "olid", "web_questions", "ml_questions"]:
        texts += rng.sample(_read(bench_dir / "ood" / f"{name}.jsonl"), 15)
    exact = _read(bench_dir / "id" / "gqr_exact_sample.jsonl")
    texts += rng.sample(exact, 30)
    texts += ["😀🔥💯", "Ahoj, ako sa máš? Čo robíš dnes večer?", "日本語のテキストです。", "a" * 5000]
    return texts


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's GQR_* judge settings and HTTP proxies out of tests (data dirs stay)."""
    for key in list(os.environ):
        if key.startswith("GQR_JUDGE") or key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    """A scripted OpenAI-compatible server on 127.0.0.1 (see fake_llm_server.py)."""
    from fake_llm_server import FakeLLMServer

    with FakeLLMServer() as fake:
        yield fake


def write_csv(path: Path, corpus: Corpus, per_class: int = 40) -> Path:
    """The first ``per_class`` training rows of finance and healthcare as a text,label CSV."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for name in ("finance", "healthcare"):
            label = corpus.classes.index(name)
            rows = [t for t, y in zip(corpus.train_texts, corpus.train_y) if y == label][:per_class]
            writer.writerows([t, name] for t in rows)
    return path


def training_set(corpus: Corpus):  # type: ignore[no-untyped-def]
    """``small_corpus`` (train part) as a ``gqr.training.TrainingSet``."""
    from gqr.training import TrainingSet

    by_class: dict[str, list[str]] = {c: [] for c in corpus.classes}
    for text, y in zip(corpus.train_texts, corpus.train_y):
        by_class[corpus.classes[y]].append(text)
    return TrainingSet(
        domains={c: by_class[c] for c in ("law", "finance", "healthcare")},
        background={c: by_class[c] for c in ("out_of_domain", "other_language", "unsafe")},
    )


@pytest.fixture(scope="session")
def trained_svm(small_corpus: Corpus):  # type: ignore[no-untyped-def]
    """A small SVM router trained once per session on real rows."""
    from gqr.training import TrainConfig, train_router

    return train_router(training_set(small_corpus), TrainConfig(model="svm", seed=0))


@pytest.fixture(scope="session")
def svm_artifact(trained_svm, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """``trained_svm`` exported once; tests that modify it must copy it first."""
    return trained_svm.export(tmp_path_factory.mktemp("artifact") / "svm")
