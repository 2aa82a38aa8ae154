"""The self-contained HTML report (``--trust-html=PATH``; ``pytest-trustllm html RESULTS.json OUT.html``).

One file, no network: the page is rendered from the Jinja2 templates in ``html_templates/`` (autoescaped),
with ``report.css`` and ``report.js`` from the same folder inlined and the SVG charts drawn by template
macros from the geometry computed here. It shows a six-dimension overview chart, where the model would
rank among the models published on the TrustLLM leaderboard (``leaderboard.py``), every suite's metrics
against their thresholds and the published models, the gate verdicts, any baseline or model comparison,
and the violated and errored items with prompt and response, filterable by suite and verdict (the filter
state lives in the URL fragment, e.g. ``#suite=ID&verdict=violation``).

This module only turns the results dict into what the templates draw; a new section is a template in
``html_templates/`` included by ``report.html.jinja`` plus, if it needs derived numbers, a function here.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from pytest_trustllm.verdict.baseline import fmt_p, model_label
from pytest_trustllm.render.leaderboard import leaderboard, placements
from pytest_trustllm.verdict.model import label
from pytest_trustllm.suite.schema import DIMENSIONS

COLORS = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2")
TEMPLATES = "html_templates"  # package folder with the templates, report.css and report.js


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else str(v)


def _ci(m: Mapping[str, Any]) -> str:
    ci = m.get("interval")
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else ""


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pytest_trustllm.render", TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_fmt, ci=_ci, p=fmt_p, model_label=model_label, label=label,
                       quote=lambda s: quote(s, safe=""))
    return env


def _resource(name: str) -> Markup:
    """A package file inlined into the page as is (our own CSS or JS, not data: never escaped)."""
    return Markup(environment().loader.get_source(environment(), name)[0])


# ---- numbers for the page --------------------------------------------------------------------------

def _models(results: Mapping[str, Any]) -> list[str]:
    seen: list[str] = []
    for s in results["suites"]:
        m = str(s.get("model"))
        if m not in seen:
            seen.append(m)
    return seen


def overview(results: Mapping[str, Any], placed: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model and dimension: gates passed / gates, and the mean share of paper models beaten."""
    out: dict[str, dict[str, Any]] = {}
    for model in _models(results):
        per: dict[str, Any] = {}
        for d in DIMENSIONS:
            suites = [s for s in results["suites"] if s["dimension"] == d and str(s.get("model")) == model]
            gates = [m["gate"] for s in suites for m in s["metrics"] if m.get("gate")]
            shares = [p["share_beaten"] for p in placed if p["dimension"] == d and p["model"] == model]
            per[d] = {"suites": len(suites), "gates": len(gates),
                      "passed": sum(1 for g in gates if g["verdict"] == "pass"),
                      "beaten": sum(shares) / len(shares) if shares else None, "ranked": len(shares)}
        out[model] = per
    return out


def radar(over: Mapping[str, Mapping[str, Any]], size: int = 460) -> dict[str, Any]:
    """Geometry of the overview chart: six axes (one per TrustLLM dimension), 0 at the centre, 1 at the
    rim; per model, the share of paper models beaten (solid) and the share of gates passed (dashed)."""
    cx = cy = size / 2
    r = size / 2 - 95
    n = len(DIMENSIONS)

    def pt(i: int, v: float) -> tuple[float, float]:
        a = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * v * math.cos(a), cy + r * v * math.sin(a)

    def points(xys: Sequence[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in xys)

    first = next(iter(over.values()), {})
    axes = []
    for i, d in enumerate(DIMENSIONS):
        lx, ly = pt(i, 1.16)
        info = first.get(d, {})
        axes.append({"dimension": d, "end": pt(i, 1.0), "label": (lx, ly),
                     "anchor": "middle" if abs(lx - cx) < 5 else ("start" if lx > cx else "end"),
                     "sub": (f"{info['passed']}/{info['gates']} gates" if info.get("gates") else
                             "no gates" if info.get("suites") else "not run")})
    series = []
    for k, (model, per) in enumerate(over.items()):
        for key in ("beaten", "gates"):
            vals = [per[d]["beaten"] if key == "beaten" else
                    (per[d]["passed"] / per[d]["gates"] if per[d]["gates"] else None) for d in DIMENSIONS]
            if all(v is None for v in vals):
                continue
            series.append({"model": model, "color": COLORS[k % len(COLORS)], "key": key,
                           "points": points([pt(i, v or 0.0) for i, v in enumerate(vals)]),
                           "dots": [(*pt(i, v), DIMENSIONS[i], v) for i, v in enumerate(vals) if v is not None]})
    a = -math.pi / 2 + math.pi / n  # ring values, between the first two axes
    return {"size": size, "centre": (cx, cy),
            "rings": [points([pt(i, ring) for i in range(n)]) for ring in (0.25, 0.5, 0.75, 1.0)],
            "axes": axes, "series": series,
            "ticks": [(cx + r * v * math.cos(a) + 3, cy + r * v * math.sin(a), v) for v in (0.5, 1.0)]}


def strip(p: Mapping[str, Any], width: int = 220, height: int = 26) -> dict[str, Any]:
    """Geometry of a ranking row's strip: the paper models' values as grey dots, their median as a tick,
    the gate threshold as a red line and this model's value (with its interval) as a blue bar and diamond."""
    vals = list(p["paper"].values()) + [p["value"]]
    if p.get("interval"):
        vals += list(p["interval"])
    g = p.get("gate")
    if g:
        vals.append(g["threshold"])
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def x(v: float) -> float:
        return 6 + (width - 12) * (v - lo) / (hi - lo)

    return {"width": width, "height": height, "mid": height / 2,
            "paper": [(name, x(v), v) for name, v in p["paper"].items()],
            "median": None if p.get("median") is None else (x(p["median"]), p["median"]),
            "gate": g and (x(g["threshold"]), g),
            "interval": p.get("interval") and tuple(x(v) for v in p["interval"]),
            "value": (x(p["value"]), p["value"])}


def _header(results: Mapping[str, Any]) -> dict[str, Any]:
    model = results.get("model") or {}
    spec = model.get("spec")
    ident = model.get("identity") or model.get("identities")
    exit_ = results.get("exit") or {}
    return {
        "spec": ", ".join(spec) if isinstance(spec, list) else (spec or "no model"),
        "settings": results.get("settings") or {},
        "ok": exit_.get("status") == 0,
        "reason": exit_.get("reason", ""),
        # cut after escaping, as the page always has: at most 400 characters of the escaped JSON
        "identity": ident and Markup(str(escape(json.dumps(ident, ensure_ascii=False)))[:400]),
    }


def _baseline(results: Mapping[str, Any]) -> dict[str, Any] | None:
    b = results.get("baseline")
    if not b or b.get("error"):
        return b
    flips = [(k, f) for k, f in b.get("flips", {}).items() if f["regressed"] or f["improved"]]
    return {**b, "flipped": flips}


def _items(results: Mapping[str, Any]) -> dict[str, Any]:
    """The violated and errored items, each marked when it passed in the baseline (``regressed``) or its
    repeats disagree (``flipping``, --trust-repeats)."""
    regressed = set()
    for label_, f in ((results.get("baseline") or {}).get("flips") or {}).items():
        regressed.update((label_, e["id"]) for e in f.get("regressed", []))
    flipping = {label(s): set((s.get("repeats") or {}).get("flipping", ())) for s in results["suites"]}
    rows, suites = [], []
    for s in results["suites"]:
        lab = label(s)
        if lab not in suites:
            suites.append(lab)
        for r in s["records"]:
            if r["outcome"] in ("violation", "error"):
                flips = [f for f, on in (("regressed", (lab, r["id"]) in regressed),
                                         ("flipping", r["id"] in flipping.get(lab, ()))) if on]
                rows.append({"suite": lab, "record": r, "flips": flips})
    return {"rows": rows, "suites": suites, "any_regressed": bool(regressed),
            "any_flipping": any(flipping.values()),
            "multi_model": any(s.get("multi_model") for s in results["suites"])}


def render(results: Mapping[str, Any]) -> str:
    """The report page for a results dict (the results JSON)."""
    from pytest_trustllm.version import __version__

    placed_list = placements(results)
    over = overview(results, placed_list)
    return environment().get_template("report.html.jinja").render(
        css=_resource("report.css"), js=_resource("report.js"), version=__version__, source=leaderboard()["source"],
        dimensions=DIMENSIONS, colors=COLORS, results=results, header=_header(results),
        over=over, radar=radar(over), placed_list=placed_list, strips=[strip(p) for p in placed_list],
        placed={(p["suite"], p["model"], p["metric"]): p for p in placed_list},
        baseline=_baseline(results), comparison=results.get("comparison"), items=_items(results),
        notes=results.get("summary_extra", []))


def write_html(path: str | Path, results: Mapping[str, Any]) -> None:
    """Write the report atomically (a crash never leaves half a page)."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(render(results))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a report is meant to be shared
    os.replace(tmp, path)
