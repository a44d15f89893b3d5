"""Markdown rendering of the report (GitHub-flavoured tables; plots linked as files)."""

from __future__ import annotations

from typing import Any

from gqr.report._tables import Table

__all__ = ["markdown_table", "render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    """One table as GitHub-flavoured Markdown, then its note in italics."""
    align = ["---"] + ["---:"] * (len(table.columns) - 1)
    lines = ["| " + " | ".join(_cell(c) for c in table.columns) + " |", "| " + " | ".join(align) + " |"]
    for i, row in enumerate(table.rows):
        cells = [f"**{_cell(c)}**" if (i, j) in table.strong and c else _cell(c) for j, c in enumerate(row)]
        if i < len(table.row_kinds) and table.row_kinds[i] == "quoted":
            cells[0] = f"*{cells[0]}*"
        lines.append("| " + " | ".join(cells) + " |")
    if table.note:
        lines += ["", f"*{table.note}*"]
    return "\n".join(lines)


def render_markdown(results: dict[str, Any], figures: set[str] | frozenset[str] = frozenset(),
                    plot_dir: str = "plots") -> str:
    """The whole report as Markdown; figures link to ``plot_dir/<name>.png``."""
    from gqr.report._document import Bullets, Code, Figure, Para, build_document

    mach = results.get("machine") or {}
    out = [
        "# GQR-Bench report",
        "",
        (f"gqr {results.get('gqr_version', '?')} · {results.get('created_at', '?')} · "
         f"{mach.get('cpu', '?')} ({mach.get('cores', '?')} cores) · {mach.get('os', '?')}"),
    ]
    for section in build_document(results, figures):
        out += ["", f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                out += [f"### {block.title}", "", markdown_table(block), ""]
            elif isinstance(block, Para):
                out += [block.text, ""]
            elif isinstance(block, Bullets):
                out += [f"- {item}" for item in block.items] + [""]
            elif isinstance(block, Code):
                out += ["```sh", block.text, "```", ""]
            elif isinstance(block, Figure):
                out += [f"![{block.key}]({plot_dir}/{block.key}.png)", "", f"*{block.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"
