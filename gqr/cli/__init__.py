"""The ``gqr`` command line: a thin layer over the library."""

from __future__ import annotations

import os
import sys

import typer

from gqr.cli._common import Command, Group
from gqr.errors import GQRError

__all__ = ["app", "main"]

app = typer.Typer(
    name="gqr",
    cls=Group,
    help="Guarded query routing: send each query to a domain, or reject it, in microseconds.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _register() -> None:
    from gqr.cli import bench, data, export, route, score, serve, train

    for name, command in (("route", route.route), ("score", score.score), ("train", train.train),
                          ("export", export.export), ("inspect", export.inspect), ("bench", bench.bench),
                          ("serve", serve.serve)):
        app.command(name, cls=Command)(command)
    app.add_typer(data.app, name="data")
    app.add_typer(__import__("gqr.cli.report", fromlist=["app"]).app, name="report")


_register()


def main() -> None:
    """Entry point. Usage errors exit 2 (typer); a ``GQRError`` prints one line and exits 1."""
    try:
        app()
    except GQRError as exc:
        if os.environ.get("GQR_DEBUG"):
            raise
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(1)
