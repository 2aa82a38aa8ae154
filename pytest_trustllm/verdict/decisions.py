"""Release decisions, once every metric has its value and interval (``decide.decide_run`` calls these):

- gates (decided in ``gates.decide_gate``): ``--trust-gate=point`` keeps the value-vs-threshold verdict;
  ``--trust-gate=confident`` passes only when the whole 95% interval clears the threshold, fails when
  the whole interval is on the wrong side, else ``inconclusive`` (``--trust-inconclusive=fail|warn``
  decides what that does to the run); here only the lines about them;
- ``--trust-baseline=PATH``: paired comparison with a saved run, failing on significant regressions;
- several ``--trust-model``: paired comparison of the first model with each other one;
- after the results exist: ``--trust-save-baseline`` and ``--trust-html`` files.

Everything works on the results' plain dicts (``suites[]`` with ``metrics`` and ``records``), so the
shard merge (``python -m pytest_trustllm merge``) makes the same decisions as a single run.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

from pytest_trustllm.verdict.gates import decide_gate
from pytest_trustllm.metrics import MetricSpec
from pytest_trustllm.verdict.model import GateResult, label as suite_label
from pytest_trustllm.suite.schema import GateSpec


# ---- gates ---------------------------------------------------------------------------------------

def apply_gates(settings: Any, suites: Sequence[dict[str, Any]]) -> list[str]:
    """Decide the gates of results suites given as plain dicts (``gates.decide_gate``, as the run
    does) and return the terminal lines; for callers that hold JSON rather than a typed run."""
    for s in suites:
        for m in s["metrics"]:
            g = m.get("gate")
            if g:
                spec = GateSpec(m["name"], g["op"], g["threshold"], g.get("source", ""))
                m["gate"] = decide_gate(spec, m["name"], m["value"], m.get("interval"), m["n"], settings).to_json()
    return gate_notes(settings, suites)


def gate_notes(settings: Any, suites: Sequence[Mapping[str, Any]]) -> list[str]:
    """Terminal lines about decided gates: the inconclusive ones a warn policy let pass, and with
    --trust-sample in point mode, the point verdicts whose interval holds the threshold."""
    lines: list[str] = []
    noisy: list[str] = []
    for s in suites:
        for m in s["metrics"]:
            if not m.get("gate"):
                continue
            g = GateResult.from_json(m["gate"])
            if g.verdict == "inconclusive" and g.on_inconclusive == "warn":
                lines.append(f"inconclusive (warn): {suite_label(s)} {g.reason}")
            elif g.mode == "point" and g.point_verdict in ("pass", "fail") and g.confident_verdict == "inconclusive":
                noisy.append(f"{suite_label(s)} {m['name']}")
    if settings.gate == "point" and settings.sample and noisy:
        lines.append(f"note: --trust-sample={settings.sample}: {len(noisy)} point verdict(s) have the threshold inside "
                     f"their 95% interval, so they may be noise ({', '.join(noisy[:5])}"
                     f"{', …' if len(noisy) > 5 else ''}); --trust-gate=confident reports them as inconclusive")
    return lines


# ---- suite specs for the comparisons ----------------------------------------------------------------

def spec_loader(rules: str, root: str | os.PathLike | None) -> Callable[[Mapping[str, Any]], list[MetricSpec] | None]:
    """Metric specs of a results suite, from its YAML file (``suites[].file`` is relative to ``root``)."""
    from pytest_trustllm.suite.builtin import resolve_file_ref
    from pytest_trustllm.suite.load import SuiteError, load_suite

    cache: dict[str, list[MetricSpec] | None] = {}

    def specs_of(suite: Mapping[str, Any]) -> list[MetricSpec] | None:
        f = suite["file"]
        if f not in cache:
            p = resolve_file_ref(f, root)
            try:
                cache[f] = load_suite(p).metrics_for(rules)
            except (SuiteError, OSError):
                cache[f] = None
        return cache[f]

    return specs_of


# ---- baseline ----------------------------------------------------------------------------------------

def compare_with_baseline(settings: Any, suites: Sequence[Mapping[str, Any]],
                          specs_of: Callable) -> tuple[dict[str, Any], list[str]]:
    from pytest_trustllm.verdict.baseline import BaselineError, compare_suite, decide, flip_lines, flips, iter_pairs, load_baseline, \
        model_label, row_line

    path = settings.baseline
    try:
        doc = load_baseline(path)
    except BaselineError as e:
        return {"path": path, "error": str(e), "failures": [str(e)]}, [f"baseline: {e}"]
    rows: list[dict[str, Any]] = []
    flipped: dict[str, Any] = {}
    missing: list[str] = []
    for s, b in iter_pairs(suites, doc.get("suites", [])):
        specs = specs_of(s) if b is not None else None
        if b is None or specs is None:
            missing.append(suite_label(s))
            continue
        for r in compare_suite(specs, b["records"], s["records"], seed=settings.seed):
            rows.append({"suite": s["id"], "model": s.get("model"), "origin": s.get("origin"), "label": suite_label(s),
                         **r})
        flipped[suite_label(s)] = flips(b["records"], s["records"])
    decide(rows, settings.alpha)
    tested = [r for r in rows if r["p"] is not None]
    regressions = [r for r in rows if r["regression"]]
    improvements = [r for r in rows if r["improvement"]]
    failures = [f"{r['label']} {r['metric']} regressed against the baseline: {r['base']:.3f} -> {r['current']:.3f} "
                f"(Holm p={r['p_holm']:.2g})" for r in regressions]
    block = {
        "path": str(path), "model": doc.get("model"), "settings": doc.get("settings"),
        "alpha": settings.alpha, "correction": "holm", "compared": len(tested),
        "regressions": len(regressions), "improvements": len(improvements),
        "metrics": rows, "flips": flipped, "not_in_baseline": missing, "failures": failures,
    }
    lines = [f"baseline {path} ({model_label(doc.get('model'))}): {len(tested)} metric(s) compared item by item, "
             f"alpha={settings.alpha:g} with Holm's correction: {len(regressions)} significant regression(s), "
             f"{len(improvements)} significant improvement(s)"]
    base_rules = (doc.get("settings") or {}).get("rules")
    if base_rules and base_rules != settings.rules:
        lines.append(f"  note: the baseline was scored with --trust-rules={base_rules}, this run with {settings.rules}")
    for r in regressions:
        lines.append("  REGRESSION " + row_line(r["label"], r))
    for r in improvements:
        lines.append("  improvement " + row_line(r["label"], r))
    for label, f in flipped.items():
        lines.extend(flip_lines(label, f))
    if missing:
        lines.append(f"  not in the baseline (not compared): {', '.join(missing)}")
    return block, lines


# ---- several models ----------------------------------------------------------------------------------

def compare_models(settings: Any, suites: Sequence[Mapping[str, Any]],
                   specs_of: Callable) -> tuple[dict[str, Any], list[str]]:
    """The first model against each other one, on the same items; Holm across the metrics of each pair."""
    from pytest_trustllm.verdict.baseline import compare_suite, decide, flips, fmt_p

    models = [m for m in settings.model]
    ref = models[0]
    by_id: dict[tuple[str, Any], dict[str, Mapping[str, Any]]] = {}
    for s in suites:
        by_id.setdefault((s["id"], s.get("origin")), {})[s.get("model")] = s
    tests: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    flipped: dict[str, dict[str, Any]] = {}
    for other in models[1:]:
        rows = []
        for sid, per in by_id.items():
            if ref not in per or other not in per:
                continue
            specs = specs_of(per[ref])
            if specs is None:
                continue
            for r in compare_suite(specs, per[ref]["records"], per[other]["records"], seed=settings.seed):
                rows.append({"suite": sid[0], "key": sid, **r})
            f = flips(per[ref]["records"], per[other]["records"])
            if f["regressed"] or f["improved"]:
                flipped.setdefault(other, {})[suite_label({**per[ref], "multi_model": False})] = f
        decide(rows, settings.alpha)
        tests[other] = {(r["key"], r["metric"]): r for r in rows}
    table = []
    for sid, per in by_id.items():
        first = per.get(ref) or next(iter(per.values()))
        for m in first["metrics"]:
            values = {}
            for model in models:
                sm = next((x for x in (per.get(model) or {}).get("metrics", []) if x["name"] == m["name"]), None)
                values[model] = sm["value"] if sm else None
            row_tests = {}
            for other in models[1:]:
                r = tests.get(other, {}).get((sid, m["name"]))
                if r is not None:
                    row_tests[other] = {k: r.get(k) for k in ("test", "n", "delta", "p", "p_holm", "significant",
                                                              "regression", "improvement", "discordant", "note")}
            table.append({"suite": suite_label({**first, "multi_model": False}), "metric": m["name"],
                          "direction": m["direction"], "values": values, "tests": row_tests})
    block = {"reference": ref, "models": models, "alpha": settings.alpha, "correction": "holm",
             "rows": table, "flips": flipped}
    # terminal: one side-by-side table
    head = ["suite", "metric", *models, *[f"Δ {o} vs {ref} (Holm p)" for o in models[1:]]]
    cells = [head]
    for row in table:
        arrow = {"higher": "↑", "lower": "↓"}.get(row["direction"], "")
        vals = ["n/a" if row["values"][m] is None else f"{row['values'][m]:.3f}" for m in models]
        deltas = []
        for o in models[1:]:
            t = row["tests"].get(o)
            if not t or t.get("p") is None:
                deltas.append("")
                continue
            mark = " worse*" if t["regression"] else " better*" if t["improvement"] else ""
            deltas.append(f"{t['delta']:+.3f} (p={fmt_p(t['p_holm'])}){mark}")
        cells.append([row["suite"], row["metric"] + arrow, *vals, *deltas])
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = [f"model comparison: paired tests on the same items (McNemar exact for per-item rates, paired "
             f"bootstrap otherwise), reference {ref}, Holm-adjusted per model, * = significant at "
             f"alpha={settings.alpha:g}"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    for other, per_suite in flipped.items():
        for sid, f in per_suite.items():
            lines.append(f"  {sid}: {other} vs {ref}: {len(f['regressed'])} item(s) pass -> violation, "
                         f"{len(f['improved'])} violation -> pass")
    return block, lines


# ---- the entry points ---------------------------------------------------------------------------------

def apply_decisions(settings: Any, suites: list[dict[str, Any]], root: str | os.PathLike | None = None
                    ) -> dict[str, Any]:
    """The comparisons of decided suites (``decide.decide_run``); returns extra top-level results
    keys: ``baseline``, ``comparison`` and ``summary_extra`` (lines for the terminal summary).
    ``root``: the folder ``suites[].file`` is relative to (pytest's rootdir; the merge command's --root)."""
    lines = gate_notes(settings, suites)
    extra: dict[str, Any] = {}
    specs_of = spec_loader(settings.rules, root)
    if settings.baseline:
        extra["baseline"], more = compare_with_baseline(settings, suites, specs_of)
        lines += more
    if len(settings.model) > 1 and any(s.get("multi_model") for s in suites):
        extra["comparison"], more = compare_models(settings, suites, specs_of)
        lines += more
    extra["summary_extra"] = lines
    return extra


def exit_failures(extra: Mapping[str, Any]) -> list[str]:
    """Lines that fail the run besides the gates: significant regressions, an unreadable baseline."""
    return list((extra.get("baseline") or {}).get("failures", []))
