"""The self-contained HTML report (``--trust-html=PATH``; ``pytest-trustllm html RESULTS.json OUT.html``).

One file, no network: inline CSS, inline SVG drawn here, a few lines of inline JS for the item filter.
It shows a six-dimension overview chart, where the model would rank among the models published on the
TrustLLM leaderboard (numbers shipped as package data, ``data/leaderboard.json``, with their source),
every suite's metrics against their thresholds and the published models, the gate verdicts, any
baseline or model comparison, and the violated and errored items with prompt and response, filterable
by suite and verdict (the filter state lives in the URL fragment, e.g. ``#suite=ID&verdict=violation``).
"""
from __future__ import annotations

import functools
import json
import math
from html import escape
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .report import label
from .suite.schema import DIMENSIONS

COLORS = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2")


@functools.lru_cache(maxsize=1)
def leaderboard() -> dict[str, Any]:
    """The published TrustLLM leaderboard numbers (package data; regenerate with scripts/build_leaderboard.py)."""
    from importlib.resources import files

    return json.loads(files("pytest_trustllm").joinpath("data/leaderboard.json").read_text(encoding="utf-8"))


def rank(value: float, direction: str, published: Mapping[str, float], models: Iterable[str]) -> dict[str, Any] | None:
    """Where ``value`` would stand among the ``models`` that have a published value: rank 1 = best
    (ties share a rank), and the share of those models it beats (ties count half)."""
    vals = [published[m] for m in models if m in published]
    if not vals or direction not in ("higher", "lower"):
        return None
    sign = 1 if direction == "higher" else -1
    better = sum(1 for v in vals if sign * v > sign * value)
    ties = sum(1 for v in vals if v == value)
    worse = len(vals) - better - ties
    return {"rank": better + 1, "of": len(vals) + 1, "share_beaten": (worse + 0.5 * ties) / len(vals)}


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else str(v)


def _ci(m: Mapping[str, Any]) -> str:
    ci = m.get("interval")
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else ""


def _badge(verdict: str | None) -> str:
    if not verdict:
        return ""
    return f'<span class="badge v-{escape(verdict)}">{escape(verdict)}</span>'


# ---- numbers for the page --------------------------------------------------------------------------

def _models(results: Mapping[str, Any]) -> list[str]:
    seen: list[str] = []
    for s in results["suites"]:
        m = str(s.get("model"))
        if m not in seen:
            seen.append(m)
    return seen


def placements(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per run metric that the leaderboard has: the value, its rank among the paper models."""
    lb = leaderboard()
    paper = lb["paper_models"]
    out = []
    for s in results["suites"]:
        if s.get("origin"):
            continue
        for m in s["metrics"]:
            pub = lb["metrics"].get(s["id"], {}).get(m["name"])
            if not pub or m["value"] is None:
                continue
            r = rank(m["value"], pub["direction"], pub["values"], paper)
            if r is None:
                continue
            sign = 1 if pub["direction"] == "higher" else -1
            paper_vals = {k: v for k, v in pub["values"].items() if k in paper}
            best = max(paper_vals, key=lambda k: sign * paper_vals[k])
            out.append({"suite": s["id"], "dimension": s["dimension"], "model": str(s.get("model")),
                        "metric": m["name"], "value": m["value"], "interval": m.get("interval"),
                        "direction": pub["direction"], "median": pub.get("median_of_paper_16"),
                        "best": (best, paper_vals[best]), "paper": paper_vals,
                        "gate": m.get("gate"), **r})
    return out


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


# ---- SVG -------------------------------------------------------------------------------------------

def radar_svg(over: Mapping[str, Mapping[str, Any]], size: int = 460) -> str:
    """Six axes (one per TrustLLM dimension), 0 at the centre, 1 at the rim: per model, the share of
    paper models beaten (solid) and the share of gates passed (dashed)."""
    cx = cy = size / 2
    r = size / 2 - 95
    n = len(DIMENSIONS)

    def pt(i: int, v: float) -> tuple[float, float]:
        a = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * v * math.cos(a), cy + r * v * math.sin(a)

    parts = [f'<svg id="overview-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
             f'width="{size}" height="{size}" role="img" aria-label="trust overview by dimension">']
    for ring in (0.25, 0.5, 0.75, 1.0):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(i, ring) for i in range(n)))
        parts.append(f'<polygon class="ring" points="{pts}"/>')
    for i, d in enumerate(DIMENSIONS):
        x, y = pt(i, 1.0)
        parts.append(f'<line class="axis" data-dimension="{d}" x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>')
        lx, ly = pt(i, 1.16)
        anchor = "middle" if abs(lx - cx) < 5 else ("start" if lx > cx else "end")
        first = next(iter(over.values()), {})
        info = first.get(d, {})
        sub = (f"{info['passed']}/{info['gates']} gates" if info.get("gates") else
               "no gates" if info.get("suites") else "not run")
        parts.append(f'<text class="axis-label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">'
                     f'<tspan x="{lx:.1f}" dy="0">{d}</tspan><tspan class="sub" x="{lx:.1f}" dy="14">{sub}</tspan></text>')
    for k, (model, per) in enumerate(over.items()):
        color = COLORS[k % len(COLORS)]
        for key, cls in (("beaten", "series-beaten"), ("gates", "series-gates")):
            vals = []
            for d in DIMENSIONS:
                info = per[d]
                v = info["beaten"] if key == "beaten" else (info["passed"] / info["gates"] if info["gates"] else None)
                vals.append(v)
            if all(v is None for v in vals):
                continue
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(i, v or 0.0) for i, v in enumerate(vals)))
            dash = ' stroke-dasharray="5 4"' if key == "gates" else ""
            parts.append(f'<polygon class="{cls}" data-model="{escape(model)}" points="{pts}" stroke="{color}" '
                         f'fill="{color}" fill-opacity="{0.18 if key == "beaten" else 0.0}"{dash}/>')
            for i, v in enumerate(vals):
                if v is not None:
                    x, y = pt(i, v)
                    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(model)} '
                                 f'{DIMENSIONS[i]}: {v:.2f}</title></circle>')
    for v in (0.5, 1.0):  # ring values, between the first two axes
        a = -math.pi / 2 + math.pi / n
        parts.append(f'<text class="tick" x="{cx + r * v * math.cos(a) + 3:.1f}" y="{cy + r * v * math.sin(a):.1f}">'
                     f'{v:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def strip_svg(p: Mapping[str, Any], width: int = 220, height: int = 26) -> str:
    """The paper models' values as grey dots, the median as a tick, the threshold as a red line and
    this model's value (with its interval) as a blue bar and diamond."""
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

    mid = height / 2
    out = [f'<svg class="strip" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}"><line x1="6" y1="{mid}" x2="{width - 6}" y2="{mid}" stroke="#cbd5e1"/>']
    for name, v in p["paper"].items():
        out.append(f'<circle cx="{x(v):.1f}" cy="{mid}" r="3" fill="#94a3b8"><title>{escape(name)}: {v:g}</title></circle>')
    if p.get("median") is not None:
        out.append(f'<line x1="{x(p["median"]):.1f}" y1="{mid - 7}" x2="{x(p["median"]):.1f}" y2="{mid + 7}" '
                   f'stroke="#475569" stroke-width="1.5"><title>median of the 16 paper models: {p["median"]:g}</title></line>')
    if g:
        out.append(f'<line x1="{x(g["threshold"]):.1f}" y1="2" x2="{x(g["threshold"]):.1f}" y2="{height - 2}" '
                   f'stroke="#dc2626" stroke-dasharray="3 2"><title>gate {escape(g["op"])} {g["threshold"]:g}</title></line>')
    if p.get("interval"):
        a, b = p["interval"]
        out.append(f'<line x1="{x(a):.1f}" y1="{mid}" x2="{x(b):.1f}" y2="{mid}" stroke="#2563eb" stroke-width="4" '
                   f'stroke-opacity="0.45"/>')
    vx = x(p["value"])
    out.append(f'<polygon points="{vx:.1f},{mid - 6} {vx + 5:.1f},{mid} {vx:.1f},{mid + 6} {vx - 5:.1f},{mid}" '
               f'fill="#2563eb"><title>this model: {p["value"]:.3f}</title></polygon></svg>')
    return "".join(out)


# ---- HTML ------------------------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#0f172a;background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:18px 28px}header h1{margin:0 0 4px;font-size:21px}
header .meta{color:#cbd5e1;font-size:13px}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px}h3{font-size:15px;margin:18px 0 6px}
.status{padding:10px 14px;border-radius:6px;font-weight:600;margin-top:12px}
.status.ok{background:#dcfce7;color:#14532d}.status.bad{background:#fee2e2;color:#7f1d1d}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #f1f5f9;vertical-align:top}
th{font-size:12px;color:#475569;font-weight:600;background:#f8fafc}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.v-pass{background:#dcfce7;color:#166534}.v-fail{background:#fee2e2;color:#991b1b}.v-inconclusive{background:#fef3c7;color:#92400e}
.v-incomplete{background:#e2e8f0;color:#334155}.v-violation{background:#fee2e2;color:#991b1b}.v-error{background:#ede9fe;color:#5b21b6}
.overview{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}.overview table{width:auto}
svg .ring{fill:none;stroke:#e2e8f0}svg .axis{stroke:#94a3b8}svg .axis-label{font-size:13px;font-weight:600;fill:#0f172a}
svg .axis-label .sub{font-size:11px;font-weight:400;fill:#64748b}svg .tick{font-size:10px;fill:#94a3b8}
svg polygon.series-beaten,svg polygon.series-gates{stroke-width:2}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.swatch{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:5px}
.filters{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin-bottom:8px}select,input{font:inherit;padding:3px 6px}
pre{white-space:pre-wrap;word-break:break-word;margin:0;max-height:12em;overflow:auto;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;background:#f8fafc;padding:4px 6px;border-radius:4px}
td.item-text{width:32%}.muted{color:#64748b;font-size:12px}footer{color:#64748b;font-size:12px;padding:0 28px 28px}
a{color:#1d4ed8}
"""

JS = """
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('#items-table tbody tr'));
  var fs = document.getElementById('f-suite'), fv = document.getElementById('f-verdict'),
      ft = document.getElementById('f-text'), shown = document.getElementById('shown');
  function fromHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ''));
    if (p.has('suite')) fs.value = p.get('suite');
    if (p.has('verdict')) fv.value = p.get('verdict');
    if (p.has('q')) ft.value = p.get('q');
  }
  function apply(save) {
    var s = fs.value, v = fv.value, q = ft.value.toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (!s || r.getAttribute('data-suite') === s) &&
               (!v || r.getAttribute('data-verdict') === v || (r.getAttribute('data-flip') || '').split(' ').indexOf(v) >= 0) &&
               (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      if (ok) { r.removeAttribute('hidden'); n++; } else { r.setAttribute('hidden', ''); }
    });
    shown.textContent = String(n);
    document.body.setAttribute('data-filter', 'suite=' + s + ';verdict=' + v + ';shown=' + n);
    if (save) {
      var p = new URLSearchParams();
      if (s) p.set('suite', s); if (v) p.set('verdict', v); if (q) p.set('q', ft.value);
      try { history.replaceState(null, '', '#' + p.toString()); } catch (e) {}
    }
  }
  fs.addEventListener('change', function () { apply(true); });
  fv.addEventListener('change', function () { apply(true); });
  ft.addEventListener('input', function () { apply(true); });
  window.addEventListener('hashchange', function () { fromHash(); apply(false); });
  fromHash();
  apply(false);
})();
"""


def _metrics_table(s: Mapping[str, Any], placed: Mapping[tuple[str, str, str], Mapping[str, Any]]) -> str:
    rows = []
    for m in s["metrics"]:
        g = m.get("gate")
        p = placed.get((s["id"], str(s.get("model")), m["name"]))
        arrow = {"higher": "↑", "lower": "↓"}.get(m["direction"], "")
        gate = f"{escape(g['op'])} {g['threshold']:g}" if g else ""
        note = escape(g.get("reason", "")) if g else ""
        placed_rank = f"{p['rank']} of {p['of']}" if p else ""
        rows.append(
            f'<tr><td title="{escape(m.get("description") or "")}">{escape(m["name"])}{arrow}</td>'
            f'<td class="num">{_fmt(m["value"])}</td><td class="num">{_ci(m)}</td><td class="num">{m["n"]}</td>'
            f'<td class="num">{m["dropped"]}</td><td class="num">{gate}</td>'
            f'<td title="{note}">{_badge(g["verdict"]) if g else ""}</td>'
            f'<td class="num">{_fmt(p["median"]) if p else ""}</td>'
            f'<td class="num">{placed_rank}</td></tr>')
    return ('<table class="metrics"><thead><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th><th>dropped</th>'
            '<th>gate</th><th>verdict</th><th>paper median</th><th>rank vs paper</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _comparison_section(results: Mapping[str, Any]) -> str:
    out = []
    b = results.get("baseline")
    if b:
        out.append('<section id="baseline"><h2>Against the baseline</h2>')
        if b.get("error"):
            out.append(f'<p class="status bad">{escape(b["error"])}</p></section>')
        else:
            from .baseline import fmt_p, model_label

            out.append(f'<p>{escape(b["path"])} ({escape(model_label(b.get("model")))}): {b["compared"]} metric(s) '
                       f'compared item by item, alpha {b["alpha"]:g}, Holm-adjusted: <b>{b["regressions"]}</b> '
                       f'significant regression(s), {b["improvements"]} improvement(s).</p>')
            out.append('<table><thead><tr><th>suite</th><th>metric</th><th>baseline</th><th>now</th><th>Δ</th>'
                       '<th>test</th><th>p</th><th>Holm p</th><th></th></tr></thead><tbody>')
            for r in b["metrics"]:
                mark = _badge("fail") if r.get("regression") else (_badge("pass") if r.get("improvement") else "")
                delta = "" if r["delta"] is None else f"{r['delta']:+.3f}"
                out.append(f'<tr><td>{escape(r["label"])}</td><td>{escape(r["metric"])}</td>'
                           f'<td class="num">{_fmt(r["base"])}</td><td class="num">{_fmt(r["current"])}</td>'
                           f'<td class="num">{delta}</td>'
                           f'<td>{escape(r.get("test") or r.get("note") or "")}</td><td class="num">{fmt_p(r.get("p"))}</td>'
                           f'<td class="num">{fmt_p(r.get("p_holm"))}</td><td>{mark}</td></tr>')
            out.append("</tbody></table>")
            flips = [(k, f) for k, f in b.get("flips", {}).items() if f["regressed"] or f["improved"]]
            if flips:
                out.append("<h3>Items that flipped</h3><ul>")
                for k, f in flips:
                    out.append(f"<li>{escape(k)}: {len(f['regressed'])} pass → violation, "
                               f"{len(f['improved'])} violation → pass</li>")
                out.append("</ul>")
            out.append("</section>")
    c = results.get("comparison")
    if c:
        from .baseline import fmt_p

        others = c["models"][1:]
        out.append('<section id="comparison"><h2>Models side by side</h2>'
                   f'<p class="muted">Paired tests on the same items against {escape(c["reference"])} (McNemar exact '
                   f'for per-item rates, paired bootstrap otherwise), Holm-adjusted per model, alpha {c["alpha"]:g}.</p>'
                   '<table><thead><tr><th>suite</th><th>metric</th>'
                   + "".join(f"<th>{escape(m)}</th>" for m in c["models"])
                   + "".join(f"<th>Δ {escape(o)} (Holm p)</th>" for o in others) + "</tr></thead><tbody>")
        for r in c["rows"]:
            cells = "".join(f'<td class="num">{_fmt(r["values"].get(m))}</td>' for m in c["models"])
            for o in others:
                t = r["tests"].get(o)
                if not t or t.get("p") is None:
                    cells += "<td></td>"
                    continue
                mark = " " + _badge("fail") if t["regression"] else (" " + _badge("pass") if t["improvement"] else "")
                cells += f'<td class="num">{t["delta"]:+.3f} ({fmt_p(t["p_holm"])}){mark}</td>'
            out.append(f'<tr><td>{escape(r["suite"])}</td><td>{escape(r["metric"])}</td>{cells}</tr>')
        out.append("</tbody></table></section>")
    return "".join(out)


def _items_section(results: Mapping[str, Any]) -> str:
    regressed = set()
    for label_, f in ((results.get("baseline") or {}).get("flips") or {}).items():
        regressed.update((label_, e["id"]) for e in f.get("regressed", []))
    multi = any(s.get("multi_model") for s in results["suites"])
    flipping = {label(s): set((s.get("repeats") or {}).get("flipping", ())) for s in results["suites"]}
    rows = []
    suites = []
    for s in results["suites"]:
        lab = label(s)
        if lab not in suites:
            suites.append(lab)
        for r in s["records"]:
            if r["outcome"] not in ("violation", "error"):
                continue
            flips = [f for f, on in (("regressed", (lab, r["id"]) in regressed),
                                     ("flipping", r["id"] in flipping.get(lab, ()))) if on]
            flip = f' data-flip="{" ".join(flips)}"' if flips else ""
            rows.append(
                f'<tr data-suite="{escape(lab)}" data-verdict="{r["outcome"]}"{flip}>'
                f'<td>{escape(lab)}</td><td><code>{escape(r["id"])}</code></td><td>{_badge(r["outcome"])}'
                f'{"<br><span class=muted>was pass</span>" if "regressed" in flips else ""}'
                f'{"<br><span class=muted>flipping</span>" if "flipping" in flips else ""}</td>'
                f'<td>{escape(r.get("message") or "")}</td>'
                f'<td class="item-text"><pre>{escape(r.get("prompt") or "")}</pre></td>'
                f'<td class="item-text"><pre>{escape(r.get("response") or "")}</pre></td></tr>')
    options = "".join(f'<option value="{escape(s)}">{escape(s)}</option>' for s in suites)
    verdicts = '<option value="">all</option><option value="violation">violation</option><option value="error">error</option>'
    if regressed:
        verdicts += '<option value="regressed">regressed vs baseline</option>'
    if any(flipping.values()):
        verdicts += '<option value="flipping">flipping (repeats disagree)</option>'
    return (f'<section id="items"><h2>Violated and errored items</h2>'
            f'<div class="filters"><label>suite <select id="f-suite"><option value="">all suites</option>{options}'
            f'</select></label><label>verdict <select id="f-verdict">{verdicts}</select></label>'
            f'<label>text <input id="f-text" type="search" placeholder="filter by text"></label>'
            f'<span>showing <b id="shown">{len(rows)}</b> of <b id="total">{len(rows)}</b> items</span></div>'
            f'<table id="items-table"><thead><tr><th>suite{" [model]" if multi else ""}</th><th>item</th><th>verdict</th>'
            f'<th>why</th><th>prompt</th><th>response</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<p class="muted">Prompts and responses are excerpts (the first 1,000 characters).</p></section>')


def render(results: Mapping[str, Any]) -> str:
    """The report page for a results dict (the results JSON)."""
    from . import __version__

    lb = leaderboard()
    placed_list = placements(results)
    placed = {(p["suite"], p["model"], p["metric"]): p for p in placed_list}
    over = overview(results, placed_list)
    model = results.get("model") or {}
    spec = model.get("spec")
    spec = ", ".join(spec) if isinstance(spec, list) else (spec or "no model")
    settings = results.get("settings") or {}
    exit_ = results.get("exit") or {}
    status_cls = "ok" if exit_.get("status") == 0 else "bad"
    ident = model.get("identity") or model.get("identities")
    head = (f'<header><h1>pytest-trustllm report: {escape(spec)}</h1><div class="meta">'
            f'rules {escape(str(settings.get("rules")))} · gate {escape(str(settings.get("gate")))}'
            f'{" (inconclusive: " + escape(str(settings.get("inconclusive"))) + ")" if settings.get("gate") == "confident" else ""}'
            f' · seed {escape(str(settings.get("seed")))}'
            f'{" · sample " + escape(str(settings.get("sample"))) if settings.get("sample") else ""}'
            f' · {len(results["suites"])} suite result(s)</div>'
            f'{"<div class=meta>identity: " + escape(json.dumps(ident, ensure_ascii=False))[:400] + "</div>" if ident else ""}'
            f'<div class="status {status_cls}" id="exit-status">{escape(exit_.get("reason", ""))}</div></header>')
    # overview
    legend = "".join(
        f'<span><i class="swatch" style="background:{COLORS[k % len(COLORS)]}"></i>{escape(m)}</span>'
        for k, m in enumerate(over))
    dim_rows = []
    for d in DIMENSIONS:
        cells = []
        for m, per in over.items():
            info = per[d]
            beaten = _fmt(info["beaten"], 2) + f" ({info['ranked']})" if info["beaten"] is not None else "–"
            cells.append(f'<td class="num">{info["passed"]}/{info["gates"]}</td><td class="num">{beaten}</td>')
        dim_rows.append(f"<tr><td>{d}</td>{''.join(cells)}</tr>")
    multi_head = "".join(f'<th colspan="2">{escape(m)}</th>' for m in over) if len(over) > 1 else ""
    overview_html = (
        '<section id="overview"><h2>Overview</h2><div class="overview">' + radar_svg(over) +
        '<div><p class="legend">' + legend + '<span>solid: share of the 16 paper models beaten</span>'
        '<span>dashed: share of gates passed</span></p>'
        + (f"<table><thead><tr><th></th>{multi_head}</tr>" if multi_head else "<table><thead>")
        + "<tr><th>dimension</th>" + "<th>gates passed</th><th>paper models beaten (metrics)</th>" * len(over)
        + "</tr></thead><tbody>" + "".join(dim_rows) + "</tbody></table></div></div></section>")
    # ranking
    rank_rows = []
    for p in placed_list:
        rank_rows.append(
            f'<tr><td>{escape(p["suite"])}</td>{"<td>" + escape(p["model"]) + "</td>" if len(over) > 1 else ""}'
            f'<td>{escape(p["metric"])}{"↑" if p["direction"] == "higher" else "↓"}</td>'
            f'<td class="num">{_fmt(p["value"])} <span class="muted">{_ci(p)}</span></td>'
            f'<td class="num"><b>{p["rank"]}</b> of {p["of"]}</td><td class="num">{_fmt(p["median"])}</td>'
            f'<td class="num">{escape(p["best"][0])} {_fmt(p["best"][1])}</td><td>{strip_svg(p)}</td></tr>')
    ranking = (
        '<section id="ranking"><h2>Where this model would rank</h2><p class="muted">Among the 16 models of the TrustLLM '
        'paper, on the leaderboard metrics this run measured (rank 1 = best; ties share a rank). Grey dots: paper models, '
        'tick: their median, red dashes: the gate, blue: this model with its 95% interval.</p>'
        + ('<table><thead><tr><th>suite</th>' + ("<th>model</th>" if len(over) > 1 else "")
           + '<th>metric</th><th>value [95% CI]</th><th>rank</th><th>paper median</th><th>best paper model</th>'
           '<th>spread</th></tr></thead><tbody>' + "".join(rank_rows) + "</tbody></table>"
           if rank_rows else "<p>No leaderboard metric in this run.</p>") + "</section>")
    # suites
    suite_parts = ['<section id="suites"><h2>Suites</h2>']
    for s in results["suites"]:
        it = s["items"]
        lab = label(s)
        link = f'#suite={escape(_quote(lab))}&amp;verdict=violation'
        suite_parts.append(
            f'<h3 id="suite-{escape(lab)}">{escape(lab)} <span class="muted">{escape(s.get("title") or "")} · '
            f'{escape(s["dimension"])}</span></h3><p class="muted">{it["total"]} items: {it["passed"]} passed, '
            f'<a href="{link}">{it["violated"]} violated</a>, {it["dropped"]} dropped, {it["errors"]} errors, '
            f'{it["skipped"]} skipped</p>' + _metrics_table(s, placed))
    suite_parts.append("</section>")
    extra = "".join(f"<li>{escape(x)}</li>" for x in results.get("summary_extra", []))
    notes = f'<section id="notes"><h2>Notes</h2><ul>{extra}</ul></section>' if extra else ""
    foot = (f'<footer>Generated by pytest-trustllm {escape(__version__)}. Published model numbers: '
            f'{escape(lb["source"])}</footer>')
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>pytest-trustllm: {escape(spec)}</title><style>{CSS}</style></head><body>"
            + head + "<main>" + overview_html + ranking + "".join(suite_parts) + _comparison_section(results)
            + _items_section(results) + notes + "</main>" + foot + f"<script>{JS}</script></body></html>")


def _quote(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


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
