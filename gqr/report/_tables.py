"""The report's tables, built from a results dict; rendered by ``_markdown`` and ``_html``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gqr.metrics import REJECTED, primary_id_set
from gqr.report.paper import QUOTED

__all__ = ["Table", "all_tables", "best_model", "cascade_table", "fmt", "measured"]

DASH = "—"


@dataclass
class Table:
    """A titled table of formatted cells. ``strong`` cells are emphasised; ``row_kinds``
    tags rows (``quoted``, ``judge``) for styling; ``key`` is the HTML anchor."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    strong: set[tuple[int, int]] = field(default_factory=set)
    row_kinds: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        from gqr.report._markdown import markdown_table

        return markdown_table(self)

    def to_html(self) -> str:
        from gqr.report._html import html_table

        return html_table(self)

    def _repr_markdown_(self) -> str:
        return f"**{self.title}**\n\n{self.to_markdown()}"

    def _repr_html_(self) -> str:
        return self.to_html()


def fmt(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or a dash for missing / NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{float(x):.{digits}f}"


def _ms(us: Any) -> str:
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return DASH
    ms = float(us) / 1000
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 10 else f"{ms:.1f}"


def _ci(ci: dict[str, Any] | None, metric: str) -> str:
    c = (ci or {}).get(metric)
    if not c:
        return DASH
    return f"{fmt(c['estimate'])} [{fmt(c['low'])}, {fmt(c['high'])}]"


def measured(results: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    """Measured models, best GQR score first (optionally only one ``kind``)."""
    models = [m for m in results.get("models", []) if kind is None or m.get("kind", "router") == kind]
    return sorted(models, key=lambda m: -(m.get("gqr_score") or 0.0))


def best_model(results: dict[str, Any]) -> dict[str, Any] | None:
    """The plain router (no judge) with the highest GQR score."""
    routers = measured(results, "router")
    return routers[0] if routers else None


def _set_names(results: dict[str, Any]) -> tuple[list[str], list[str]]:
    models = results.get("models", [])
    if not models:
        return [], []
    return list(models[0].get("id_sets", {})), list(models[0].get("ood_sets", {}))


def leaderboard(results: dict[str, Any], quoted: bool = True) -> Table:
    id_names, ood_names = _set_names(results)
    primary = results.get("settings", {}).get("primary_id") or primary_id_set(id_names)
    others = [n for n in id_names if n != primary]
    columns = ["router", *ood_names, "unsafe avg", "OOD acc", f"ID acc ({primary})", *[f"ID acc ({n})" for n in others],
               "GQR score", "p50 ms", "ONNX p50 ms", "p99 ms", "batch q/s", "size MB", "train s", "source"]
    rows: list[list[str]] = []
    kinds: list[str] = []
    for m in measured(results):
        lat = m.get("latency") or {}
        qps = m.get("batch_qps")
        rows.append([
            m["name"], *[fmt(m["ood_sets"].get(n)) for n in ood_names], fmt(m.get("unsafe_average")),
            fmt(m.get("ood_accuracy")), fmt(m["id_sets"].get(primary)), *[fmt(m["id_sets"].get(n)) for n in others],
            fmt(m.get("gqr_score")), _ms(lat.get("p50_us")), _ms(lat.get("onnx_p50_us")), _ms(lat.get("p99_us")),
            f"{qps:,.0f}" if qps else DASH, fmt((m.get("size_bytes") or 0) / 1e6, 1), fmt(m.get("train_seconds"), 1),
            "measured",
        ])
        kinds.append("judge" if m.get("kind") == "router+judge" else "")
    strong = _best_cells(rows, columns, first=1, last=columns.index("GQR score") + 1)
    if quoted:
        for q in QUOTED:
            approx = "~" if q.approximate else ""
            rows.append([
                f"{q.label} †", *[DASH] * len(ood_names), DASH, fmt(q.ood_accuracy),
                fmt(q.id_accuracy), *[DASH] * len(others),
                f"{approx}{fmt(q.gqr_score, 3 if not q.approximate else 2)}" if q.gqr_score is not None else DASH,
                q.latency_text or DASH, DASH, DASH, DASH, DASH, DASH,
                "quoted: paper" if q.source.startswith("GQR paper") else "quoted: retraining",
            ])
            kinds.append("quoted")
    note = ("Accuracy = share of rows routed to the right domain (ID sets) or rejected (OOD sets). "
            "OOD acc = mean over the OOD sets; unsafe avg = mean over the unsafe sets; GQR score = harmonic mean "
            "of ID accuracy (primary set) and OOD accuracy. Latency: one query at a time on one CPU thread, "
            "end to end (p50, p99) and the ONNX Runtime call alone (ONNX p50); "
            "batch q/s: 1,000 queries in one call. Best measured value per column in bold.")
    if quoted:
        note += " † Quoted, not measured here (see the caveat below); their latency is the source's own figure."
    return Table("leaderboard", "Leaderboard (GQR-Bench)", columns, rows, note, strong, kinds)


def _best_cells(rows: list[list[str]], columns: list[str], first: int, last: int) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for j in range(first, last):
        values = []
        for i, r in enumerate(rows):
            try:
                values.append((float(r[j].replace(",", "")), i))
            except ValueError:
                pass
        if len(values) > 1:
            top = max(v for v, _ in values)
            out |= {(i, j) for v, i in values if v == top}
    return out


def intervals(results: dict[str, Any]) -> Table:
    id_names, _ = _set_names(results)
    primary = results.get("settings", {}).get("primary_id") or primary_id_set(id_names)
    others = [n for n in id_names if n != primary]
    settings = results.get("analysis_settings", {}).get("bootstrap", {})
    columns = ["router", f"ID acc ({primary})", *[f"ID acc ({n})" for n in others], "OOD acc", "unsafe avg", "GQR score"]
    rows = []
    for m in measured(results):
        ci = (m.get("analysis") or {}).get("ci")
        rows.append([m["name"], _ci(ci, "id_accuracy"), *[_ci(ci, f"{n}_accuracy") for n in others],
                     _ci(ci, "ood_accuracy"), _ci(ci, "unsafe_average"), _ci(ci, "gqr_score")])
    note = (f"Estimate [95% interval]: {settings.get('resamples', 1000)} seeded bootstrap resamples "
            f"(seed {settings.get('seed', 0)}), rows resampled within each set; percentile intervals.")
    return Table("intervals", "Bootstrap 95% confidence intervals", columns, rows, note)


def calibration(results: dict[str, Any]) -> Table:
    columns = ["router", "temperature", "ECE before (validation)", "ECE after (validation)",
               "ECE on benchmark rows", "uncertain share", "OOD rule", "threshold", "uncertain band"]
    rows = []
    for m in measured(results, "router"):
        a = m.get("analysis") or {}
        cal = a.get("calibration") or {}
        g = m.get("guard") or {}
        band = (f"[{fmt(g.get('uncertain_low'), 2)}, {fmt(g.get('uncertain_high'), 2)})"
                if g.get("uncertain_high") else DASH)
        if g.get("error_model"):
            band = f"error model, P(wrong) >= {fmt(g['error_model'].get('cut'), 2)}"
        rows.append([m["name"], fmt(cal.get("temperature")), fmt(cal.get("ece_before")), fmt(cal.get("ece_after")),
                     fmt(cal.get("ece_bench")), fmt(a.get("escalated_share")), str(g.get("method", DASH)),
                     fmt(g.get("threshold")), band])
    note = ("ECE (expected calibration error) before and after temperature scaling is measured on the "
            "training validation split (in-domain and outlier-pool rows). ECE on benchmark rows uses the "
            "calibrated confidence of the decision taken (route or rejection) on the primary ID set and the "
            "OOD sets, which the calibration never saw. Uncertain share: rows a judge would be asked about. "
            "Uncertain band: the zone of top domain probability, or the error model (gqr.uncertainty) that "
            "replaces it.")
    return Table("calibration", "Calibration", columns, rows, note)


def zones(results: dict[str, Any]) -> Table:
    columns = ["router", "zone", "rows", "share", "accuracy", "ID rows", "OOD rows"]
    rows = []
    for m in measured(results, "router"):
        for zone, z in ((m.get("analysis") or {}).get("zones") or {}).items():
            rows.append([m["name"], zone.replace("_", " "), str(z["rows"]), fmt(z["share"]), fmt(z["accuracy"]),
                         str(z["id_rows"]), str(z["ood_rows"])])
    note = ("Benchmark rows (primary ID set + OOD sets), no judge configured. Confident accept/reject: "
            "outside the guard's uncertain band; uncertain: inside it, i.e. what would be escalated to a judge.")
    return Table("zones", "Accuracy by zone", columns, rows, note)


def judge_simulation(results: dict[str, Any]) -> Table:
    columns = ["router", "escalated", "router acc on escalated", "GQR alone", "GQR + judge (expected)",
               "seeded runs: mean [95% range]", "lift (points)", "≥ +1 point"]
    rows = []
    for m in measured(results, "router"):
        s = (m.get("analysis") or {}).get("judge_simulation")
        if not s:
            continue
        w = s["with_judge"]
        rows.append([m["name"], f"{s['escalated']} ({s['escalated_share']:.1%})", fmt(s["escalated_router_accuracy"]),
                     fmt(s["router"]["gqr_score"]), fmt(w["gqr_score"]),
                     f"{fmt(w['gqr_mean'])} [{fmt(w['gqr_low'])}, {fmt(w['gqr_high'])}]",
                     f"{s['lift_points']:+.2f}", "yes" if s["lift_at_least_1_point"] else "no"])
    cfg = results.get("analysis_settings", {}).get("judge_simulation", {})
    note = (f"Simulation, no LLM: a judge right with probability {cfg.get('accuracy', 0.91)} (the paper's "
            f"{cfg.get('judge', 'Llama-3.1-8B')}) answers the {cfg.get('budget', 0.05):.0%} of benchmark rows whose max "
            "calibrated domain probability is closest to the router's threshold (the centre of its uncertain band). "
            "Expected: escalated rows count as 0.91 correct; 200 seeded runs give the range; 1 point = 0.01 GQR score.")
    return Table("judge-simulation", "Simulated judge on the most uncertain 5%", columns, rows, note)


SCOPE_TITLES = {"gqr_bench": "GQR-Bench", "heldout": "held-out sources"}


def judge_rows(results: dict[str, Any]) -> Table | None:
    """The measured cascade: per router + judge row and scope (GQR-Bench; held-out sources of
    the training pools), the router alone and with the judge, the escalated share, the judge's
    accuracy on the escalated rows, errors fixed and right answers broken, and the cost."""
    judged = measured(results, "router+judge")
    if not judged:
        return None
    columns = ["router", "judge", "scope", "ID acc", "OOD acc", "GQR", "ID acc + judge", "OOD acc + judge",
               "GQR + judge", "escalated", "judged rows", "judge acc (router acc) on escalated", "fixed", "broken",
               "calls / 1,000 queries"]
    rows = []
    for m in judged:
        j = m.get("judge") or {}
        for scope, c in (j.get("scopes") or {}).items():
            r, k = c.get("router", {}), c.get("cascade", {})
            est = " (est.)" if c.get("estimate") else ""
            rows.append([m["name"], str(j.get("model", DASH)), SCOPE_TITLES.get(scope, scope),
                         fmt(r.get("id_accuracy")), fmt(r.get("ood_accuracy")), fmt(r.get("gqr_score")),
                         fmt(k.get("id_accuracy")) + est, fmt(k.get("ood_accuracy")) + est,
                         fmt(k.get("gqr_score")) + est, f"{c.get('escalated_share', 0):.1%}",
                         f"{c.get('asked', 0)} of {c.get('escalated', 0)}",
                         f"{fmt(c.get('judge_accuracy'))} ({fmt(c.get('router_accuracy_on_escalated'))})",
                         str(c.get("fixed", DASH)), str(c.get("broken", DASH)), f"{c.get('calls_per_1000', 0):.0f}"])
    lat = []
    for m in judged:
        j, t = m.get("judge") or {}, (m.get("judge") or {}).get("timing") or {}
        esc, all_ = t.get("escalated") or {}, m.get("latency") or {}
        calls = j.get("call_seconds") or {}
        zone = f"band {j['band']}" if j.get("band") else "the model's own uncertain zone"
        lat.append(f"{m['name']}: {zone}; all decisions p50 {_ms(all_.get('p50_us'))} ms, p99 "
                   f"{_ms(all_.get('p99_us'))} ms; escalated p50 {_ms(esc.get('p50_us'))} ms, p99 {_ms(esc.get('p99_us'))} ms "
                   f"({t.get('escalated_queries', 0)} of {t.get('queries', 0)} timed queries, load {t.get('load')}); "
                   f"judge calls behind the table p50 {calls.get('p50_s', float('nan')):.1f} s, p99 "
                   f"{calls.get('p99_s', float('nan')):.1f} s ({calls.get('n', 0)} calls, load {j.get('load')}).")
    note = ("Measured with a real judge over HTTP (gqr.judge.cascade): the router's uncertain rows go to the judge. "
            "Judged rows: escalated rows the judge answered (or whose fallback decided); when fewer than all, the "
            "others are scored at the judge's accuracy on that set's judged rows (est.). Fixed / broken: judged rows "
            "the router got wrong and the cascade right, and the reverse. Calls per 1,000 queries: no budget is set by "
            "default, so every escalated query is a call. " + " ".join(lat))
    return Table("judge", "Router + judge (measured)", columns, rows, note, row_kinds=["judge"] * len(rows))


def cascade_table(results: dict[str, Any]) -> str:
    """``judge_rows`` as plain text with its note (what ``gqr bench --judge-url`` prints)."""
    table = judge_rows(results)
    if table is None:
        return ""
    cells = [table.columns, *table.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table.columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join([*lines, "", table.note])


def reasons(results: dict[str, Any]) -> Table:
    keys = ["in_domain", "out_of_domain", "other_language", "unsafe", "invalid_input"]
    columns = ["router", "OOD set", "accepted (wrong)", "out of domain", "other language", "unsafe", "invalid input"]
    rows = []
    for m in measured(results, "router"):
        for name, counts in (m.get("reasons") or {}).items():
            rows.append([m["name"], name, *[str(counts.get(k, 0)) for k in keys]])
    return Table("reasons", "Rejection reasons per OOD set", columns, rows,
                 "How each OOD row was handled: routed to a domain (an error), or rejected with a reason.")


def generalisation(results: dict[str, Any]) -> Table | None:
    """Per-domain recall on the exact sample and on held-out sources, rejections with the right
    reason, unsafe false positives, and the uncertain zone's error capture (``gqr.checks``)."""
    models = [m for m in measured(results, "router") if m.get("checks")]
    if not models:
        return None
    domains = list(models[0].get("labels") or [])
    reason_sets = list(models[0]["checks"].get("reason_accuracy") or {})
    columns = ["router", *[f"{d} recall exact" for d in domains], *[f"{d} recall held-out" for d in domains],
               *[f"right reason: {n}" for n in reason_sets], "unsafe FP exact", "unsafe FP held-out",
               "errors flagged uncertain", "flagged uncertain"]
    rows = []
    for m in models:
        c = m["checks"]
        recall = c.get("recall") or {}
        cap = (c.get("capture") or {}).get("held_out_all") or {}
        rows.append([m["name"], *[fmt(recall.get("id_exact", {}).get(d)) for d in domains],
                     *[fmt(recall.get("id_heldout", {}).get(d)) for d in domains],
                     *[fmt((c.get("reason_accuracy") or {}).get(n)) for n in reason_sets],
                     fmt((c.get("unsafe_fp") or {}).get("id_exact")), fmt((c.get("unsafe_fp") or {}).get("id_heldout")),
                     fmt(cap.get("errors_flagged")), fmt(cap.get("flagged"))])
    note = ("Held-out = the test split of the training pools, whole sources never trained on where a pool has "
            "three or more. Right reason: share rejected with the expected reason (unsafe for the five unsafe "
            "GQR-Bench sets and held-out unsafe pools; out_of_domain / other_language for theirs; for "
            "safe_lookalikes_heldout, share NOT called unsafe). Unsafe FP: in-domain rows rejected as unsafe. "
            "Uncertain zone over every held-out row: share of wrong decisions flagged uncertain, and of all rows.")
    return Table("generalisation", "New sources, reasons and the uncertain zone", columns, rows, note)


def confusion(results: dict[str, Any]) -> Table | None:
    m = best_model(results)
    if not m or not m.get("confusion"):
        return None
    table = m["confusion"]
    names = list(table)
    rows = [[t, *[str(table[t].get(p, 0)) for p in names]] for t in names]
    strong = {(i, i + 1) for i in range(len(names))}
    return Table("confusion", f"Confusion matrix of the best router ({m['name']})", ["true \\ predicted", *names],
                 rows, f"Primary ID set and OOD sets; {REJECTED} = rejected (the right answer for OOD rows).", strong)


def manifest(results: dict[str, Any]) -> Table:
    bench = (results.get("data") or {}).get("benchmark") or {}
    entries: list[dict[str, Any]] = []
    if bench.get("id_test"):
        entries.append(bench["id_test"])
    entries += list(bench.get("ood_sets") or []) + list(bench.get("pools") or []) + list(bench.get("eval_only") or [])
    rows = []
    for e in entries:
        verified = e.get("verified")
        rows.append([str(e.get("name", DASH)), str(e.get("role", DASH)), f"{e.get('rows', 0):,}",
                     (e.get("sha256") or DASH)[:16], {True: "yes", False: "NO", None: "unknown"}[verified]])
    where = bench.get("data_dir") or DASH
    return Table("data", "Data manifest", ["file", "role", "rows", "sha256 (first 16)", "matches registry"], rows,
                 f"Data directory: {where}; training pools: {bench.get('train_dir') or DASH}. Full checksums are in results.json.")


def environment(results: dict[str, Any]) -> Table:
    mach = results.get("machine") or {}
    s = results.get("settings") or {}
    rows = [
        ["gqr", str(results.get("gqr_version", DASH))],
        ["run at (UTC)", str(results.get("created_at", DASH))],
        ["CPU", f"{mach.get('cpu', DASH)} ({mach.get('cores', DASH)} cores)"],
        ["memory", f"{mach.get('memory_gb', DASH)} GiB"],
        ["OS", str(mach.get("os", DASH))],
        ["Python", str(mach.get("python", DASH))],
        ["seed", str(s.get("seed", DASH))],
        ["latency", (f"{s.get('latency_queries', DASH)} queries x {s.get('latency_repeats', DASH)} repeats, "
                     f"{s.get('threads', 1)} thread")],
        ["models", ", ".join(s.get("models", []))],
    ]
    if s.get("judge"):
        rows.append(["judge", f"{s['judge'].get('model')} at {s['judge'].get('url')}"])
    for name, version in sorted((results.get("packages") or {}).items()):
        if version:
            rows.append([f"package {name}", version])
    return Table("environment", "Settings and machine", ["item", "value"], rows)


def all_tables(results: dict[str, Any]) -> list[Table]:
    """Every table of the report, in reading order (missing ones skipped)."""
    tables = [leaderboard(results), intervals(results), calibration(results), zones(results),
              judge_simulation(results), judge_rows(results), generalisation(results), confusion(results),
              reasons(results),
              manifest(results), environment(results)]
    return [t for t in tables if t is not None]
