"""Reports: the terminal ``trust summary``, the results JSON and the JUnit ``trust-gates`` suite."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_trustllm.verdict.model import GateResult, label
from pytest_trustllm.render.xmltext import xml_safe


def fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def summary_lines(suites: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per suite metric: value, interval, n, dropped, threshold, verdict."""
    rows = [("suite", "metric", "value", "95% CI", "n", "dropped", "gate", "verdict")]
    for s in suites:
        sid = label(s)
        for m in s["metrics"]:
            g = m["gate"]
            ci = m.get("interval")
            rows.append((
                sid, m["name"] + ("↑" if m["direction"] == "higher" else "↓" if m["direction"] == "lower" else ""),
                fmt(m["value"]), f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "", str(m["n"]), str(m["dropped"]),
                f"{g['op']} {g['threshold']:g}" if g else "", g["verdict"] if g else "",
            ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def item_lines(suites: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for s in suites:
        it = s["items"]
        out.append(f"{label(s)}: {it['total']} items, {it['passed']} passed, {it['violated']} violated, "
                   f"{it['dropped']} dropped, {it['errors']} errors, {it['skipped']} skipped")
    return out


def skipped_lines(suites: Sequence[Mapping[str, Any]], most: int = 5) -> list[str]:
    """Why items were skipped, over all suites: ``35 item(s) skipped: needs an LLM judge: set --trust-judge``."""
    from collections import Counter

    total: Counter[str] = Counter()
    for s in suites:
        total.update(s.get("skipped_reasons") or {})
    lines = [f"{n} item(s) skipped: {reason}" for reason, n in total.most_common(most)]
    if len(total) > most:
        rest = sum(n for _, n in total.most_common()[most:])
        lines.append(f"{rest} item(s) skipped for {len(total) - most} other reason(s) (skipped_reasons in the results JSON)")
    return lines


def write_json_atomic(path: str | Path, doc: Any) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1, allow_nan=False, default=str)
        f.write("\n")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is an ordinary file
    os.replace(tmp, path)


def junit_model_props(model: Mapping[str, Any]) -> dict[str, Any]:
    """The results' ``model`` block as ``trust.model.*`` properties of the ``trust-gates`` suite."""
    out: dict[str, Any] = {"spec": model.get("spec")}
    if model.get("identity"):
        out["identity"] = model["identity"]
    if model.get("identities"):
        out["identities"] = model["identities"]
    return out


def add_junit_gates(path: str | Path, suites: Sequence[Mapping[str, Any]], model: Mapping[str, Any]) -> None:
    """Append a ``trust-gates`` test suite: one test case per gate (a failure element when it fails)
    and the numbers as suite properties (testcase properties are not in the JUnit schema)."""
    from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

    xml = JUnitXml.fromfile(str(path))
    gates = TestSuite("trust-gates")
    for key, value in model.items():
        gates.add_property(f"trust.model.{key}", xml_safe(value if isinstance(value, str) else json.dumps(value)))
    for s in suites:
        name = label(s).replace(" ", "")
        for m in s["metrics"]:
            g = m["gate"]
            if not g:
                continue
            case = TestCase(f"{name}::{m['name']}", classname=f"trust-gates.{s['dimension']}", time=0.0)
            prefix = f"trust.gate.{name}.{m['name']}"
            for k, v in (("value", m["value"]), ("op", g["op"]), ("threshold", g["threshold"]), ("n", m["n"]),
                         ("dropped", m["dropped"]), ("verdict", g["verdict"]),
                         ("interval", m.get("interval")), ("source", g.get("source"))):
                if v is not None:
                    gates.add_property(f"{prefix}.{k}", xml_safe(v if isinstance(v, str) else json.dumps(v)))
            text = f"{name} {m['name']} = {fmt(m['value'])}, gate {g['op']} {g['threshold']:g} (n={m['n']})"
            if GateResult.from_json(g).fails:
                case.result = [Failure(xml_safe(f"gate {g['verdict']}: {name} {g['reason']}" if g.get("reason")
                                                else f"gate {g['verdict']}: {text}"), "TrustGateFailure")]
            elif g["verdict"] in ("inconclusive", "incomplete"):
                case.result = [Skipped(xml_safe(f"{g['verdict']} (warn): {name} {g['reason']}" if g.get("reason")
                                                else f"{g['verdict']} (warn): {text}"))]
            gates.add_testcase(case)
    gates.update_statistics()
    xml.add_testsuite(gates)
    xml.write(str(path), pretty=False)
