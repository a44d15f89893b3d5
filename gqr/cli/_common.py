"""Options and helpers shared by CLI commands (the judge settings from GQR_JUDGE_*; the data
directories from GQR_DATA_DIR / GQR_TRAIN_DIR are resolved by ``gqr.datasets``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

DataDir = Annotated[
    Optional[Path],
    typer.Option(
        "--data-dir",
        help="Local GQR-Bench copy (id/*.jsonl, ood/*.jsonl). Default: $GQR_DATA_DIR; "
        "with neither, the Hugging Face hub (extra hub).",
    ),
]
TrainDir = Annotated[
    Optional[Path],
    typer.Option("--train-dir", help="Training pools. Default: $GQR_TRAIN_DIR, else <data-dir>/../train."),
]


class _FlagsTakeNoValue:
    """Help that shows a flag as a flag: typer 0.29 prints a type after every flag
    (``--json <bool>``, even ``--help <bool>``) as if it took a value."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Command(_FlagsTakeNoValue, TyperCommand):
    """The class of every gqr command (``app.command(name, cls=Command)``)."""


class Group(_FlagsTakeNoValue, TyperGroup):
    """The class of every gqr command group (``typer.Typer(cls=Group)``)."""


def say(message: str) -> None:
    typer.echo(message, err=True)


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr."""
    typer.echo(f"warning: {message}", err=True)


def usage_error(message: str) -> typer.Exit:
    """Print ``Error: message`` and return the exit (code 2, a usage error) to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code=2)


def ensure_writable_dir(folder: Path, option: str) -> None:
    """Create ``folder`` (and its parents) or raise a usage error naming ``option``; called
    before long work so that a bad output place fails at once, not after training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise usage_error(f"{option}: cannot create {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise usage_error(f"{option}: cannot write to {folder}; choose another place")


def check_model_out(out: Path, overwrite: bool) -> None:
    """Refuse ``--out`` when it is a file, or a non-empty directory without ``--overwrite``
    (the model is renamed into place: whatever the directory held is gone); with
    ``--overwrite`` still refuse a non-empty directory that is not a gqr model."""
    if out.exists() and not out.is_dir():
        raise usage_error(f"--out {out} is a file; give a directory for the model")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / "manifest.json").is_file():
        raise usage_error(f"--out {out} holds files that are not a gqr model; it would be replaced as a whole: "
                          "give a new or empty directory")
    if not overwrite:
        raise usage_error(f"--out {out} already holds a model; pass --overwrite to replace it, or give another directory")


def load_bench(data_dir: Path | None, train_dir: Path | None) -> Any:
    from gqr.datasets import load_benchmark

    return load_benchmark(data_dir, train_dir)  # None: $GQR_DATA_DIR / $GQR_TRAIN_DIR, read there


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


ModelOpt = Annotated[Optional[Path], typer.Option("--model", "-m", help="Model directory (default: the shipped model).")]
JudgeUrl = Annotated[
    Optional[str],
    typer.Option("--judge-url", help="OpenAI-compatible base URL of an LLM judge, e.g. http://127.0.0.1:11434/v1 (or $GQR_JUDGE_URL)."),
]
JudgeModel = Annotated[Optional[str], typer.Option("--judge-model", help="Model name the judge serves (or $GQR_JUDGE_MODEL).")]
Uncertain = Annotated[
    str, typer.Option("--uncertain", help="Uncertain queries: model (keep the model's call), reject, accept, or judge.")
]
JudgeFallback = Annotated[
    str,
    typer.Option(
        "--judge-fallback",
        help="An uncertain query the judge did not answer (down, timeout, budget, garbage): "
        "model (keep the model's call) or reject.",
    ),
]
JudgeTimeout = Annotated[
    float, typer.Option("--judge-timeout", help="Seconds per judge HTTP attempt (a local CPU model may need 30).")
]
Coverage = Annotated[
    Optional[float], typer.Option("--coverage", help="Define the uncertain zone by conformal prediction sets at this coverage, e.g. 0.95.")
]


def judge_config(
    url: str | None, model: str | None, timeout: float, *, required: bool = False, fallback: str = "model"
) -> Any:
    """A ``JudgeConfig`` from the options, else $GQR_JUDGE_URL / $GQR_JUDGE_MODEL (the API key
    only from $GQR_JUDGE_API_KEY); ``None`` when no judge is asked for (no URL and not
    ``required``); a usage error when one is asked for but the URL or the model is missing."""
    url = url or os.environ.get("GQR_JUDGE_URL")
    model = model or os.environ.get("GQR_JUDGE_MODEL")
    if not (required or url):
        return None
    if not (url and model):
        raise usage_error("a judge needs both --judge-url and --judge-model (or GQR_JUDGE_URL / GQR_JUDGE_MODEL)")
    if fallback not in ("model", "reject"):
        raise usage_error(f"--judge-fallback {fallback!r}: use model or reject")
    from gqr.judge import JudgeConfig

    return JudgeConfig(url, model, api_key=os.environ.get("GQR_JUDGE_API_KEY"), timeout=timeout, on_failure=fallback)


def make_router(
    model: Path | None,
    judge_url: str | None = None,
    judge_model: str | None = None,
    uncertain: str = "model",
    coverage: float | None = None,
    judge_timeout: float = 5.0,
    judge_fallback: str = "model",
) -> Any:
    """A ``Router`` for CLI commands; the judge's API key comes only from $GQR_JUDGE_API_KEY."""
    from gqr.router import Router

    router = Router.load(model)
    config = judge_config(judge_url, judge_model, judge_timeout, required=uncertain == "judge", fallback=judge_fallback)
    if config is None:
        return router.with_options(uncertain=uncertain, coverage=coverage)
    from gqr.judge import JudgeClient

    judge = JudgeClient.for_router(config, router)
    return router.with_options(uncertain="judge" if uncertain == "model" else uncertain, coverage=coverage, judge=judge)


def require_training() -> None:
    """Fail in one line, before any data is read, when the ``train`` extra is missing."""
    from gqr.errors import require

    for module in ("scipy.sparse", "sklearn", "onnx"):
        require(module, "train", "Training")
