"""The fast featurizers against their Python references on every GQR-Bench row, plus hostile
text: the same ids and row layout, values within 1e-6, the same decisions.

Usage::

    python scripts/feature_parity.py [--model DIR ...] [--data DIR]
    python scripts/feature_parity.py --dump FILE [--model DIR]   # decisions as JSONL, to diff two gqr versions

Every row of ``id/*.jsonl`` and ``ood/*.jsonl`` is featurised as serving sees it (after
``gqr.text.clean``) and as given, one row at a time and in batches of 1,000; then routed by
two routers on the same model, one with the fast featurizer and one with the reference.
``--dump`` uses only the public API, so it also runs on an older gqr (``PYTHONPATH=old/``).
Exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gqr import Router
from gqr.errors import InvalidInputError
from gqr.text import clean

BATCH = 1000
TOLERANCE = 1e-6


def bench_rows(data: Path) -> Iterator[tuple[str, int, str]]:
    """(file, line number, text) of every row; JSONL is split on newlines only (texts hold
    U+2028 and U+0085, which ``str.splitlines`` would split on)."""
    for sub in ("id", "ood"):
        for path in sorted((data / sub).glob("*.jsonl")):
            with path.open(encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        yield f"{sub}/{path.name}", number, json.loads(line)["text"]


def hostile(seed: int = 0) -> list[str]:
    """Text no benchmark row has: many scripts, emoji sequences, control and format
    characters, 1 MB inputs."""
    rng = random.Random(seed)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x9FFF),
              (0xAC00, 0xD7A3), (0xFE00, 0xFFEF), (0x1F000, 0x1FAFF), (0xE0000, 0xE007F)]
    mixed = ["".join(chr(rng.randint(*rng.choice(blocks))) if rng.random() > 0.15 else " " for _ in range(n))
             for n in (3, 30, 300, 3000) for _ in range(25)]
    emoji = ["👨‍👩‍👧‍👦 👍🏽 🏳️‍🌈 🇸🇰🇩🇪 😀🔥💯", "Zalgo Z̷̢̛a̶l̵g̴o̸", "İstanbul ǅ ﬁ ß ΣΑΣ ŉ", "a\u200bb\u2028c\u0085d\ufeff",
             "ＡＢＣ１２３", "\U000e0041\U000e0042", "?!...", "__label__x _", "मेरा नाम क्या है", "안녕하세요"]
    return mixed + emoji + ["word " * 200_000, "é" * 1_000_000, "x" * 1_000_000]


WORST = [0.0]  # the largest value difference seen (within TOLERANCE it is no failure)


def _diff(fast: Any, ref: Any) -> str | None:
    if fast.n_rows != ref.n_rows or not np.array_equal(fast.segments, ref.segments):
        return "row layout differs"
    if not np.array_equal(fast.ids, ref.ids):
        return "ids differ"
    worst = float(np.abs(fast.values - ref.values).max(initial=0.0))
    WORST[0] = max(WORST[0], worst)
    return f"values differ by {worst:.2e}" if worst > TOLERANCE else None


def _cleaned(texts: Sequence[str]) -> list[str]:
    out = []
    for text in texts:
        try:
            out.append(clean(text))
        except InvalidInputError:
            continue
    return out


def check_model(model: str | None, rows: list[tuple[str, int, str]], extra: list[str]) -> list[str]:
    """Every difference between the fast and the reference path of ``model`` (empty: parity)."""
    from gqr.features import from_spec

    fast_router, ref_router = Router.load(model), Router.load(model)
    fast = fast_router.scorer.featurize  # type: ignore[attr-defined]  # the fast path, as Router.load builds it
    ref = from_spec(fast_router.info["featurizer"], _artifact_files(model), reference=True)
    ref_router.scorer.featurize = ref  # type: ignore[attr-defined]
    texts = [t for _, _, t in rows]
    inputs = _cleaned(texts) + texts + extra
    problems: list[str] = []
    for i, text in enumerate(inputs):
        problem = _diff(fast([text]), ref([text]))
        if problem:
            problems.append(f"single row {i}: {problem}: {text[:60]!r}")
    for start in range(0, len(inputs), BATCH):
        problem = _diff(fast(inputs[start:start + BATCH]), ref(inputs[start:start + BATCH]))
        if problem:
            problems.append(f"batch at {start}: {problem}")
    routed = texts + extra + [b"caf\xe9", b"\xff\xfe", ""]
    for start in range(0, len(routed), BATCH):
        chunk = routed[start:start + BATCH]
        for i, (a, b) in enumerate(zip(fast_router.route_batch(chunk), ref_router.route_batch(chunk))):
            if _decision(a) != _decision(b):
                problems.append(f"decision of row {start + i}: {_decision(a)} != {_decision(b)}")
    print(f"{model or 'shipped default'}: {len(inputs)} featurised single and batched "
          f"({len(rows)} benchmark rows cleaned and raw, {len(extra)} hostile), {len(routed)} routed: "
          f"{'PARITY' if not problems else f'{len(problems)} differences'} (largest value difference {WORST[0]:.1e})")
    WORST[0] = 0.0
    return problems


def _artifact_files(model: str | None) -> dict[str, bytes]:
    from gqr.artifact import read_artifact
    from gqr.router import default_model_path

    return read_artifact(Path(model) if model else default_model_path()).files


def _decision(d: Any) -> tuple[Any, ...]:
    return (d.route, d.reason.value, d.uncertain, d.detail, round(d.confidence, 6))


def dump(model: str | None, rows: list[tuple[str, int, str]], out: Path) -> None:
    """Every row's decision (``route_batch`` in batches, and ``route``), as JSONL."""
    router = Router.load(model)
    texts = [t for _, _, t in rows]
    with out.open("w", encoding="utf-8") as fh:
        for start in range(0, len(texts), BATCH):
            batch = router.route_batch(texts[start:start + BATCH])
            for (name, number, text), d in zip(rows[start:start + BATCH], batch):
                one = router.route(text)
                fh.write(json.dumps({"file": name, "line": number, "batch": _decision(d), "one": _decision(one),
                                     "scores": {k: round(v, 6) for k, v in d.scores.items()}}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model directory (repeatable; default: the shipped model)")
    parser.add_argument("--data", default=os.environ.get("GQR_DATA_DIR", "../shared/data/gqr-bench"))
    parser.add_argument("--dump", type=Path, help="write every row's decision to this JSONL file instead")
    args = parser.parse_args()
    rows = list(bench_rows(Path(args.data)))
    models = args.model or [None]
    if args.dump:
        dump(models[0], rows, args.dump)
        return
    t0 = time.perf_counter()
    problems = [p for model in models for p in check_model(model, rows, hostile())]
    for p in problems[:20]:
        print("  " + p)
    print(f"{time.perf_counter() - t0:.0f} s")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
