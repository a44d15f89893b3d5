"""Options and helpers shared by CLI commands (the only place that reads GQR_* variables)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Local GQR-Bench copy (id/*.jsonl, ood/*.jsonl). Default: $GQR_DATA_DIR, else the hub."),
]
TrainDir = Annotated[
    Optional[Path],
    typer.Option("--train-dir", help="Training pools. Default: $GQR_TRAIN_DIR, else <data-dir>/../train."),
]


def say(message: str) -> None:
    typer.echo(message, err=True)


def load_bench(data_dir: Path | None, train_dir: Path | None) -> Any:
    from gqr.datasets import load_benchmark

    data_dir = data_dir or (Path(os.environ["GQR_DATA_DIR"]) if os.environ.get("GQR_DATA_DIR") else None)
    train_dir = train_dir or (Path(os.environ["GQR_TRAIN_DIR"]) if os.environ.get("GQR_TRAIN_DIR") else None)
    return load_benchmark(data_dir, train_dir)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["C=0.5", "hidden=512"]`` -> ``{"C": 0.5, "hidden": 512}`` (numbers, booleans, strings)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE")
        key, raw = item.split("=", 1)
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                pass
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        out[key.strip()] = value
    return out


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
