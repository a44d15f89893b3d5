"""Property-based tests: whatever text or request arrives, the answer is a valid Decision or a
clear 4xx JSON error, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gqr.decision import Reason, Source
from gqr.router import Router
from gqr.scoring import iter_rows

fastapi = pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'gqr[serve]'")
from fastapi.testclient import TestClient

from gqr.serve import ServeSettings, create_app

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Text with everything hypothesis can produce, including lone surrogates and control characters.
any_text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def router(svm_artifact: Path) -> Router:
    return Router.load(svm_artifact)


@pytest.fixture(scope="module")
def client(svm_artifact: Path) -> Any:
    with TestClient(create_app(svm_artifact, ServeSettings(max_body_bytes=16 * 1024, max_batch=16))) as c:
        yield c


def check_decision(d: dict[str, Any], labels: list[str]) -> None:
    assert set(d) == {"route", "reason", "confidence", "source", "uncertain", "scores", "detail"}
    assert d["reason"] in {r.value for r in Reason} and d["source"] in {s.value for s in Source}
    assert 0.0 <= d["confidence"] <= 1.0
    assert (d["route"] is None) == (d["reason"] != "in_domain")
    assert d["route"] is None or d["route"] in labels


@FUZZ
@given(texts=st.lists(any_text | st.binary(max_size=200), min_size=1, max_size=8))
def test_any_text_or_bytes_gets_a_valid_decision(router: Router, texts: list[Any]) -> None:
    decisions = router.route_batch(texts)  # lone surrogates included: clean() refuses them
    assert len(decisions) == len(texts)
    for d in decisions:
        check_decision(d.to_dict(), router.labels)


@FUZZ
@given(body=json_value)
def test_any_json_body_gets_a_decision_or_a_clear_4xx(client: Any, router: Router, body: Any) -> None:
    for path in ("/route", "/route/batch"):
        r = client.post(path, content=json.dumps(body))
        if r.status_code == 200:
            payload = r.json()
            for d in payload["decisions"] if path.endswith("batch") else [payload]:
                check_decision(d, router.labels)
        else:
            assert r.status_code in (400, 413, 422)
            assert r.json()["error"]["message"]


@FUZZ
@given(text=any_text, extra=st.dictionaries(st.text(max_size=5), json_value, max_size=3))
def test_route_body_with_any_text(client: Any, router: Router, text: str, extra: dict[str, Any]) -> None:
    r = client.post("/route", content=json.dumps({**extra, "text": text}))
    assert r.status_code == 200
    check_decision(r.json(), router.labels)


@FUZZ
@given(raw=st.binary(max_size=2000))
def test_any_bytes_as_a_request_body(client: Any, raw: bytes) -> None:
    for path in ("/route", "/route/batch", "/v1/chat/completions"):
        r = client.post(path, content=raw)
        assert r.status_code in (200, 400, 404, 413, 422)
        assert "error" in r.json() or r.status_code == 200


@FUZZ
@given(lines=st.lists(st.binary(max_size=120), max_size=12))
def test_jsonl_reader_yields_one_row_per_non_blank_line(lines: list[bytes]) -> None:
    import io

    data = b"\n".join(line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines) + b"\n"
    rows = list(iter_rows(io.BytesIO(data), None, "jsonl"))
    assert [r.number for r in rows] == list(range(1, sum(1 for line in data.split(b"\n") if line.strip()) + 1))
