"""The README's claims about the shipped model hold."""

from __future__ import annotations

import re
from pathlib import Path

from gqr import Router

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_example_routes_as_the_readme_says() -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None, "README has no Python example"
    query = re.search(r'router\.route\("([^"]+)"\)', block.group(1))
    claimed = re.search(r"d\.route\s+# '(\w+)'", block.group(1))
    assert query and claimed, "the example must route a query and say where it goes"
    assert Router.load().route(query.group(1)).route == claimed.group(1)


def test_first_command_result_is_described_truthfully() -> None:
    text = README.read_text(encoding="utf-8")
    query = re.search(r'gqr route "([^"]+)"', text)
    assert query is not None
    said = re.search(r"it answers `(\w+)`", text)
    assert said is not None, "README must say what the first command answers"
    assert Router.load().route(query.group(1)).route == said.group(1)
