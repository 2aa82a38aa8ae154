"""Judge calibration: a refusal classifier (or the LLM judge used as one) against the official
TrustLLM Longformer labels of a bundled reference set (``data/calibration/refusal_reference.jsonl.gz``,
built by ``scripts/build_calibration_set.py`` from the authors' recorded responses).

Figures, overall and per task: agreement (Wilson 95% interval), Cohen's kappa and the refusal-rate
bias (judge RtA - official RtA), both with a seeded percentile bootstrap over the rows (paired: the
same resample for judge and official labels). A response the judge cannot decide (None, a failure)
counts as a disagreement and is reported (``undecided``): a judge is not credited for abstaining.

    python -m pytest_trustllm calibrate --trust-refusal=offline [--out calibration.json]

A run attaches the figures with ``--trust-calibration=FILE`` (``shipped``: the shipped figures of the
run's refusal classifier, where there are some).
"""
from __future__ import annotations

import gzip
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

SCHEMA = "pytest-trustllm/calibration/1"
REFERENCE = "data/calibration/refusal_reference.jsonl.gz"
SHIPPED = {"offline": "data/calibration/offline.json"}  # refusal judge name -> its shipped figures
RESAMPLES = 2000


def load_reference(path: str | Path | None = None) -> list[dict[str, Any]]:
    if path is None:
        raw = resources.files("pytest_trustllm").joinpath(REFERENCE).read_bytes()
    else:
        raw = Path(path).read_bytes()
    text = gzip.decompress(raw).decode("utf-8") if raw[:2] == b"\x1f\x8b" else raw.decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two 0/1 label lists (None when chance agreement is 1: one class only)."""
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return None if pe >= 1 - 1e-12 else (po - pe) / (1 - pe)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> list[float] | None:
    if n == 0:
        return None
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [max(0.0, mid - half), min(1.0, mid + half)]


def figures(official: Sequence[int], judged: Sequence[int | None], seed: int = 0) -> dict[str, Any]:
    """Agreement, kappa and RtA bias of one set of rows. ``official``: 1 = refusal; ``judged``:
    1 = refusal, 0 = answered, None = undecided."""
    import numpy as np

    n = len(official)
    undecided = sum(1 for j in judged if j is None)
    # undecided counts against the judge: the opposite of the official label
    j = [(1 - o) if x is None else int(x) for o, x in zip(official, judged)]
    agree = sum(o == x for o, x in zip(official, j))
    rta_off = sum(official) / n if n else None
    rta_judge = sum(j) / n if n else None
    out: dict[str, Any] = {
        "n": n, "undecided": undecided, "agreement": agree / n if n else None, "agreement_ci": wilson(agree, n),
        "kappa": kappa(official, j), "rta_official": rta_off, "rta_judge": rta_judge,
        "bias": None if n == 0 else rta_judge - rta_off,
    }
    if n >= 2:
        rng = np.random.default_rng(seed)
        o = np.asarray(official, dtype=float)
        x = np.asarray(j, dtype=float)
        idx = rng.integers(0, n, size=(RESAMPLES, n))
        ob, xb = o[idx], x[idx]
        bias = xb.mean(axis=1) - ob.mean(axis=1)
        po = (ob == xb).mean(axis=1)
        pa, pb = ob.mean(axis=1), xb.mean(axis=1)
        pe = pa * pb + (1 - pa) * (1 - pb)
        ok = pe < 1 - 1e-12
        kap = (po[ok] - pe[ok]) / (1 - pe[ok])
        out["bias_ci"] = [float(np.percentile(bias, 2.5)), float(np.percentile(bias, 97.5))]
        out["kappa_ci"] = ([float(np.percentile(kap, 2.5)), float(np.percentile(kap, 97.5))]
                           if out["kappa"] is not None and len(kap) >= RESAMPLES // 2 else None)
    return out


def calibrate(judge: Any, rows: Sequence[Mapping[str, Any]], *, batch: int = 64, seed: int = 0) -> dict[str, Any]:
    """Run ``judge.classify`` over the reference rows; figures overall and per task."""
    from pytest_trustllm.scoring.judges.base import JudgeFailure

    judged: list[int | None] = []
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        got = judge.classify([r["response"] for r in part], [dict(r) for r in part])
        judged.extend(None if (g is None or isinstance(g, JudgeFailure)) else int(bool(g)) for g in got)
    official = [1 if r["label"] == "refusal" else 0 for r in rows]
    tasks = sorted({r["task"] for r in rows})
    per_task = {}
    for i, t in enumerate(tasks):
        sel = [k for k, r in enumerate(rows) if r["task"] == t]
        per_task[t] = figures([official[k] for k in sel], [judged[k] for k in sel], seed=seed + 1 + i)
    return {
        "schema": SCHEMA,
        "judge": {"kind": "refusal", "name": getattr(judge, "name", str(judge)),
                  "identity": dict(getattr(judge, "identity", {}) or {})},
        "reference": {"rows": len(rows), "labels": "official TrustLLM Longformer (LibrAI/longformer-harmful-ro), "
                      "recorded as eval_res", "models": sorted({r["model"] for r in rows})},
        "overall": figures(official, judged, seed=seed),
        "tasks": per_task,
    }


def shipped_path(judge_name: str) -> Path | None:
    rel = SHIPPED.get(judge_name)
    if rel is None:
        return None
    p = resources.files("pytest_trustllm").joinpath(rel)
    return Path(str(p)) if p.is_file() else None


def _f(v: Any, d: int = 3) -> str:
    return "n/a" if v is None else f"{v:+.{d}f}" if isinstance(v, float) and v < 0 else f"{v:.{d}f}"


def _ci(v: Sequence[float] | None) -> str:
    return "" if not v else f" [{v[0]:.3f}, {v[1]:.3f}]"


def table_lines(result: Mapping[str, Any]) -> list[str]:
    """A markdown table: one row per task, then all."""
    j = result["judge"]
    out = [f"Refusal judge `{j['name']}` against the official Longformer labels ({result['reference']['rows']} "
           f"reference responses, models: {', '.join(result['reference']['models'])}).", "",
           "| task | n | agreement [95% CI] | Cohen's kappa [95% CI] | RtA official | RtA judge | bias [95% CI] | "
           "undecided |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rows = list(result["tasks"].items()) + [("all", result["overall"])]
    for name, f in rows:
        out.append(f"| {name} | {f['n']} | {_f(f['agreement'])}{_ci(f['agreement_ci'])} | "
                   f"{_f(f['kappa'])}{_ci(f.get('kappa_ci'))} | {_f(f['rta_official'])} | {_f(f['rta_judge'])} | "
                   f"{_f(f['bias'])}{_ci(f.get('bias_ci'))} | {f['undecided']} |")
    return out


def run_attachment(path_or_shipped: str, refusal_name: str | None) -> dict[str, Any]:
    """What a run's results JSON carries under ``calibration``: the figures and whether they are the
    figures of the refusal judge the run used."""
    if path_or_shipped == "shipped":
        p = shipped_path(refusal_name or "")
        if p is None:
            return {"available": False,
                    "note": f"no shipped calibration for refusal judge {refusal_name!r}; run "
                            f"`python -m pytest_trustllm calibrate --trust-refusal={refusal_name}`"}
    else:
        p = Path(path_or_shipped)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return {"available": False, "note": f"cannot read calibration {path_or_shipped}: {e}"}
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        return {"available": False, "note": f"{path_or_shipped} is not a calibration file ({SCHEMA})"}
    name = (doc.get("judge") or {}).get("name")
    return {"available": True, "source": str(path_or_shipped), "judge": doc.get("judge"),
            "matches_run": name == refusal_name, "reference": doc.get("reference"), "note": doc.get("note"),
            "overall": doc.get("overall"), "tasks": doc.get("tasks")}


def attachment_lines(att: Mapping[str, Any]) -> list[str]:
    if not att.get("available"):
        return [f"judge calibration: {att.get('note')}"]
    o = att["overall"]
    match = "" if att["matches_run"] else " — NOT the refusal judge this run used"
    return [f"judge calibration [{att['judge']['name']}]: agreement {_f(o['agreement'])}, kappa {_f(o['kappa'])}, "
            f"RtA bias {_f(o['bias'])}{_ci(o.get('bias_ci'))} on {o['n']} reference responses{match}"]
