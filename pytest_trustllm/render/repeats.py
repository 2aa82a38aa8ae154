"""--trust-repeats in the reports: the flipping items in the terminal summary and as properties of the
JUnit ``trust-gates`` suite."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from pytest_trustllm.render.xmltext import xml_safe
from pytest_trustllm.verdict.model import label


def summary_lines(suites: Sequence[Mapping[str, Any]], label: Any) -> list[str]:
    rows = [(label(s), s["repeats"]) for s in suites if s.get("repeats")]
    if not rows:
        return []
    total = sum(len(r["flipping"]) for _, r in rows)
    out = [f"repeats: flipping items {total} (repeats that disagree)"]
    for lab, r in rows:
        cons = "n/a" if r["consistency"] is None else f"{r['consistency']:.3f}"
        out.append(f"repeats [{lab}]: K={r['k']}, consistency {cons} over {r['items']} item(s), "
                   f"{len(r['flipping'])} flipping")
    return out


def add_junit_properties(path: str, suites: Sequence[Mapping[str, Any]]) -> None:
    """Consistency and flipping items as properties of the ``trust-gates`` JUnit suite."""
    from junitparser import JUnitXml

    props = junit_properties(suites, label)
    if not props:
        return
    xml = JUnitXml.fromfile(str(path))
    for suite in xml:
        if suite.name == "trust-gates":
            for k, v in props.items():
                suite.add_property(k, xml_safe(v))
    xml.write(str(path), pretty=False)


def junit_properties(suites: Sequence[Mapping[str, Any]], label: Any) -> dict[str, str]:
    """Properties for the ``trust-gates`` JUnit suite (testcase properties are not in the schema)."""
    out = {}
    for s in suites:
        r = s.get("repeats")
        name = label(s).replace(" ", "")
        if r:
            out[f"trust.repeats.{name}"] = (f"k={r['k']} consistency={r['consistency']} "
                                                f"flipping={len(r['flipping'])}")
            out[f"trust.flipping.{name}"] = " ".join(r["flipping"])
    return out
