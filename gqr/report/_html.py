"""Self-contained HTML rendering of the report: inline CSS, plots as base64 PNG, no scripts,
nothing fetched from the network."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from typing import Any

from gqr.report._tables import Table

__all__ = ["html_table", "render_html"]

CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --zebra:#f6f8fa; --accent:#0969da; --quoted:#8c959f; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 24px 32px 64px; max-width: 1400px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 40px; }
h3 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: var(--muted); margin-bottom: 16px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 18px; padding: 8px 0; border-bottom: 1px solid var(--line); }
nav a { color: var(--accent); text-decoration: none; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; white-space: nowrap; }
th { background: var(--zebra); text-align: center; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: var(--zebra); }
tr.quoted td { color: var(--quoted); font-style: italic; }
tr.judge td:first-child { font-weight: 600; }
p.note { color: var(--muted); font-size: 13px; max-width: 1100px; margin: 6px 0 16px; }
figure { margin: 16px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; max-width: 900px; }
pre { background: var(--zebra); border: 1px solid var(--line); padding: 12px; overflow-x: auto; font-size: 13px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 90%; }
"""


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def html_table(table: Table) -> str:
    """One table (with its note) as an HTML fragment."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = []
    for i, row in enumerate(table.rows):
        kind = table.row_kinds[i] if i < len(table.row_kinds) else ""
        cls = f' class="{kind}"' if kind else ""
        cells = "".join(
            f"<td><strong>{html.escape(c)}</strong></td>" if (i, j) in table.strong else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (f'<div class="scroll"><table id="table-{html.escape(table.key)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{note}')


def render_html(results: dict[str, Any], images: Mapping[str, bytes] | None = None) -> str:
    """The whole report as one HTML page; ``images`` maps plot names to PNG bytes."""
    from gqr.report._document import Bullets, Code, Figure, Para, build_document

    images = dict(images or {})
    sections = build_document(results, set(images))
    mach = results.get("machine") or {}
    meta = (f"gqr {results.get('gqr_version', '?')} · {results.get('created_at', '?')} · "
            f"{mach.get('cpu', '?')} ({mach.get('cores', '?')} cores) · {mach.get('os', '?')}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>GQR-Bench report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>GQR-Bench report</h1>",
        f'<div class="meta">{html.escape(meta)}</div>',
        "<nav>" + "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections) + "</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(f"<h3>{html.escape(block.title)}</h3>{html_table(block)}")
            elif isinstance(block, Para):
                parts.append(f"<p>{_inline(block.text)}</p>")
            elif isinstance(block, Bullets):
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
            elif isinstance(block, Code):
                parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
            elif isinstance(block, Figure):
                data = base64.b64encode(images[block.key]).decode("ascii")
                parts.append(f'<figure id="figure-{block.key}"><img alt="{html.escape(block.key)}" '
                             f'src="data:image/png;base64,{data}"><figcaption>{html.escape(block.caption)}'
                             "</figcaption></figure>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
