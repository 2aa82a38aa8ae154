"""Merge the results of shards (``--trust-shard=K/N`` on several machines) into the results of one run.

Nothing is averaged: every suite's per-item records from all shards are put back together and every
metric, interval, gate, baseline comparison and model comparison is recomputed from them with the
same code a single run uses (``decide.decide_run``), so the
merged results equal those of one unsharded run. The suite YAML files are read again from
``suites[].file``, relative to ``root`` (the pytest rootdir of the shards; default: the current folder).

JUnit files are merged too: the shards' test suites are kept, their ``trust-gates`` suites (each
computed on a third of the items) are dropped and one recomputed from the merged results is added.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_trustllm.verdict.model import READABLE_SCHEMAS, SCHEMA
from pytest_trustllm.suite.builtin import resolve_file_ref

# settings that change the numbers or the decisions: every shard must agree on them
MUST_AGREE = ("model", "rules", "sample", "seed", "strict", "gate", "inconclusive", "alpha", "baseline",
              "max_new_tokens", "refusal", "judge", "toxicity", "embedder")


class MergeError(Exception):
    """Shards that cannot be merged; the message says which and why."""


def read_results(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    docs = []
    for p in paths:
        try:
            doc = json.loads(Path(p).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MergeError(f"results file not found: {p}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MergeError(f"results file {p} cannot be read: {e}") from None
        if not isinstance(doc, dict) or doc.get("schema") not in READABLE_SCHEMAS:
            raise MergeError(f"{p} is not a pytest-trustllm results file (schema {SCHEMA}); write one with "
                             "--trust-report=PATH")
        doc["_path"] = str(p)
        docs.append(doc)
    return docs


def check_shards(docs: Sequence[Mapping[str, Any]], allow_partial: bool = False) -> list[str]:
    """Settings agree, and sharded inputs are every shard K/N of one N, each once; returns notes."""
    first = docs[0]["settings"]
    for d in docs[1:]:
        differ = [k for k in MUST_AGREE if d["settings"].get(k) != first.get(k)]
        if differ:
            raise MergeError(f"{d['_path']} was run with other settings than {docs[0]['_path']}: "
                             + ", ".join(f"{k}={d['settings'].get(k)!r} vs {first.get(k)!r}" for k in differ))
    shards = [(d["settings"].get("shard"), d["_path"]) for d in docs]
    given = [s for s, _ in shards if s]
    if not given:
        return []
    ns = {int(s.split("/")[1]) for s in given}
    if len(ns) > 1 or len(given) != len(docs):
        raise MergeError("mixed inputs: " + ", ".join(f"{p} ({s or 'not sharded'})" for s, p in shards))
    n = ns.pop()
    seen: dict[str, str] = {}
    for s, p in shards:
        if s in seen:
            raise MergeError(f"shard {s} given twice: {seen[s]} and {p}")
        seen[s] = p
    missing = [f"{k}/{n}" for k in range(1, n + 1) if f"{k}/{n}" not in seen]
    if missing and not allow_partial:
        raise MergeError(f"missing shard(s) {', '.join(missing)}: the merged metrics would cover part of the "
                         "items (pass --allow-partial to merge them anyway)")
    return [f"partial merge: shard(s) {', '.join(missing)} missing"] if missing else []


def _overrides(suite_id: str, metrics: Sequence[Mapping[str, Any]]):
    """The gates the shards applied (suite gates after ini and thresholds-file overrides)."""
    from pytest_trustllm.verdict.gates import Override

    return [Override(suite_id, m["name"], m["gate"]["op"], float(m["gate"]["threshold"]), m["gate"].get("source", ""))
            for m in metrics if m.get("gate")]


def _settings(raw: Mapping[str, Any]):
    from dataclasses import fields

    from pytest_trustllm.settings import Settings

    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    values["model"] = tuple(values.get("model") or ())
    values["suite_dirs"] = tuple(values.get("suite_dirs") or ("suites",))
    values["shard"] = None
    return Settings(**values)


def pytest_status(docs: Sequence[Mapping[str, Any]]) -> int:
    """The pytest part of the shards' statuses: 5 (no tests) only if every shard had none."""
    codes = [int((d.get("exit") or {}).get("pytest", 0) or 0) for d in docs]
    real = [c for c in codes if c not in (0, 5)]
    if real:
        return max(real)
    return 5 if codes and all(c == 5 for c in codes) else 0


def _process_info(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A shard's results as the run's processes report to ``decide.decide_run``."""
    model = doc.get("model") or {}
    spec = model.get("spec")
    models = dict(model.get("identities") or {})
    if isinstance(spec, str) and model.get("identity") is not None:
        models[spec] = model["identity"]
    return {"models": models, "judges": doc.get("judges", []), "data_notes": doc.get("data") or {}}


def merge_results(docs: Sequence[Mapping[str, Any]], root: str | os.PathLike | None = None,
                  allow_partial: bool = False) -> dict[str, Any]:
    """The results of one run, recomputed from the shards' per-item records (``decide.decide_run``)."""
    from pytest_trustllm.verdict.decide import SuiteRun, decide_run
    from pytest_trustllm.suite.load import SuiteError, load_suite

    if not docs:
        raise MergeError("no results files to merge")
    notes = check_shards(docs, allow_partial)
    settings = _settings(docs[0]["settings"])
    root = Path(root) if root else Path.cwd()
    groups: dict[tuple[str, Any, Any], dict[str, Any]] = {}
    for d in docs:
        for s in d["suites"]:
            key = (s["file"], s.get("model"), s.get("origin"))
            g = groups.setdefault(key, {"first": s, "records": {}, "gates": {}})
            for m in s["metrics"]:
                if m.get("gate"):
                    g["gates"][m["name"]] = m
            for r in s["records"]:
                g["records"].setdefault(r["id"], r)  # shards are disjoint; a repeated id counts once

    order = sorted(groups, key=lambda k: (os.path.normpath(os.path.join(root, k[0])), str(k[1]), str(k[2])))
    runs = []
    for file, model, origin in order:
        g = groups[(file, model, origin)]
        path = resolve_file_ref(file, root)
        try:
            suite = load_suite(path)
        except (SuiteError, OSError) as e:
            raise MergeError(f"suite {g['first']['id']}: cannot read {path} ({e}); run the merge from the shards' "
                             "rootdir or pass --root") from None
        payloads = sorted(g["records"].values(), key=lambda p: (p["index"], p["id"]))
        runs.append(SuiteRun(suite, file, model, origin, payloads, _overrides(suite.id, list(g["gates"].values()))))
    merged_settings = dict(docs[0]["settings"])
    merged_settings["shard"] = None
    run = decide_run(settings, runs, [_process_info(d) for d in docs], pytest_status(docs), root,
                     settings_json=merged_settings, notes=notes, merged_from=[d["_path"] for d in docs])
    return run.to_json()


def merge_junit(out: str | os.PathLike, inputs: Sequence[str | os.PathLike], results: Mapping[str, Any]) -> int:
    """Write the shards' JUnit test suites to ``out`` plus one recomputed ``trust-gates`` suite;
    returns the number of test cases."""
    from junitparser import JUnitXml, TestSuite

    from pytest_trustllm.render.report import add_junit_gates, junit_model_props

    merged = JUnitXml()
    for p in inputs:
        try:
            xml = JUnitXml.fromfile(str(p))
        except FileNotFoundError:
            raise MergeError(f"JUnit file not found: {p}") from None
        except Exception as e:  # noqa: BLE001 - junitparser raises lxml/ElementTree errors
            raise MergeError(f"JUnit file {p} cannot be read: {e}") from None
        for ts in ([xml] if isinstance(xml, TestSuite) else list(xml)):
            if ts.name != "trust-gates":
                merged.add_testsuite(ts)
    merged.update_statistics()
    merged._elem.attrib.pop("skipped", None)  # junitparser's total; the JUnit 10 schema has no such attribute
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    merged.write(str(out), pretty=False)
    add_junit_gates(out, results["suites"], junit_model_props(results.get("model") or {}))
    return JUnitXml.fromfile(str(out)).tests
