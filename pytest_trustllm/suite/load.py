"""Load and validate a suite YAML file. Every problem is a ``SuiteError`` naming ``file:line``,
the key path and how to fix it."""
from __future__ import annotations

import difflib
import inspect
import math
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from pytest_trustllm.metrics.core import MetricSpec
from pytest_trustllm.suite.expand import expand_metrics
from pytest_trustllm.suite.schema import (
    DIMENSIONS, GATE_OPS, RULE_MODES, SCHEMA_VERSION, GateSpec, GenerationSpec, RecordSpec, ScorerSpec, SuiteSpec,
)

DECLARATION = "trustllm_suite"
_DECLARED = re.compile(rb"^trustllm_suite\s*:", re.MULTILINE)


class SuiteError(Exception):
    def __init__(self, path: Path | str, line: int | None, keypath: str, message: str, fix: str = "") -> None:
        self.path, self.line, self.keypath, self.message, self.fix = Path(path), line, keypath, message, fix
        where = f"{path}:{line}" if line else str(path)
        text = f"{where}: {keypath + ': ' if keypath else ''}{message}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)


def is_suite_file(path: Path, in_suites_dir: bool) -> bool:
    """A suite is a YAML file under a suites folder, or any YAML file declaring ``trustllm_suite``."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if in_suites_dir:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return False
    return _DECLARED.search(head) is not None


# ---- YAML with line numbers ------------------------------------------------------------------

MAX_NODES = 100_000  # a suite is a page of YAML; more nodes than this means aliases expanding without end


class _Builder:
    """Builds plain Python values from a composed YAML node tree, recording each key path's line."""

    def __init__(self, file: Path) -> None:
        self.file, self.lines, self.nodes = file, {}, 0

    def build(self, node: yaml.Node, path: str) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SuiteError(self.file, node.start_mark.line + 1, path,
                             f"more than {MAX_NODES:,} YAML values: anchors and aliases (*name) expand too far",
                             "write the values out, or use fewer nested aliases")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                key = knode.value if isinstance(knode, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    raise SuiteError(self.file, knode.start_mark.line + 1, path, "keys must be plain strings")
                sub = f"{path}.{key}" if path else key
                if key in out:
                    raise SuiteError(self.file, knode.start_mark.line + 1, sub, "duplicate key", "keep one of them")
                self.lines[sub] = knode.start_mark.line + 1
                out[key] = self.build(vnode, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, f"{path}[{i}]") for i, v in enumerate(node.value)]
        try:
            return yaml.SafeLoader("").construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as e:  # a tag SafeLoader refuses, '!!float abc'
            problem = getattr(e, "problem", None) or str(e)
            raise SuiteError(self.file, node.start_mark.line + 1, path,
                             f"cannot read the value {node.value!r:.60} ({node.tag}): {problem}",
                             "write a plain string, number, boolean or list (no YAML tags)") from None


def read_yaml(path: Path) -> tuple[Any, dict[str, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SuiteError(path, None, "", f"not UTF-8 text ({e.reason} at byte {e.start})", "save the file as UTF-8")
    builder = _Builder(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise SuiteError(path, None, "", "the file is empty", f"start with '{DECLARATION}: {SCHEMA_VERSION}'")
        return builder.build(node, ""), builder.lines
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise SuiteError(path, line, "", f"YAML syntax error: {e.problem or e}", "fix the YAML syntax") from None
    except yaml.YAMLError as e:
        raise SuiteError(path, None, "", f"YAML error: {e}") from None
    except RecursionError:
        raise SuiteError(path, None, "", "the YAML is nested too deeply", "flatten the nested lists or mappings") from None


# ---- validation ------------------------------------------------------------------------------

TOP_KEYS = {
    DECLARATION: "required", "id": "required", "title": "optional", "dimension": "required", "task": "optional",
    "markers": "optional", "description": "optional", "data": "required", "filter": "optional", "record": "optional",
    "generation": "optional", "scorer": "required", "metrics": "required", "gates": "optional",
    "chunk_size": "optional",
}
RECORD_KEYS = ("id", "prompt", "prompt_template", "fields", "group", "stratify")
GENERATION_KEYS = ("temperature", "max_new_tokens", "system_prompt")
SCORER_KEYS = ("name", "args")
METRIC_KEYS = ("name", "reduce", "where", "args", "direction", "rules", "scale", "round", "description", "of", "group")
GATE_KEYS = ("metric", "op", "threshold", "source")
MARKER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _V:
    """Validation helpers bound to one file."""

    def __init__(self, path: Path, lines: Mapping[str, int]) -> None:
        self.path, self.lines = path, lines

    def fail(self, keypath: str, message: str, fix: str = "") -> SuiteError:
        line = self.lines.get(keypath)
        probe = keypath
        while line is None and probe:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            probe = re.sub(r"\[\d+\]$", "", probe) if probe.endswith("]") else probe
            line = self.lines.get(probe)
        return SuiteError(self.path, line, keypath, message, fix)

    def keys(self, obj: Mapping, allowed, keypath: str) -> None:
        for k in obj:
            if k not in allowed:
                close = difflib.get_close_matches(k, list(allowed), n=1)
                fix = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
                raise self.fail(f"{keypath}.{k}" if keypath else k, f"unknown key {k!r}", fix)

    def typed(self, value: Any, types, keypath: str, what: str) -> Any:
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.fail(keypath, f"expected {what}, got a boolean {value!r}")
        if not isinstance(value, types):
            raise self.fail(keypath, f"expected {what}, got {type(value).__name__} {value!r}"[:200])
        return value

    def mapping(self, value: Any, keypath: str) -> dict:
        return self.typed(value, dict, keypath, "a mapping (key: value)")

    def string(self, value: Any, keypath: str) -> str:
        return self.typed(value, str, keypath, "a string")

    def opt_string(self, value: Any, keypath: str) -> str | None:
        return None if value is None else self.string(value, keypath)

    def number(self, value: Any, keypath: str) -> float:
        number = float(self.typed(value, (int, float), keypath, "a number"))
        if not math.isfinite(number):
            raise self.fail(keypath, f"expected a finite number, got {value!r}")
        return number

    def string_list(self, value: Any, keypath: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        self.typed(value, list, keypath, "a list of strings")
        return tuple(self.string(v, f"{keypath}[{i}]") for i, v in enumerate(value))


def _check_reduction_args(v: _V, reduce: str, args: Mapping[str, Any], keypath: str) -> None:
    """The reduction must accept these arguments: found now, not as a crash at the end of the run."""
    from pytest_trustllm.metrics import REDUCTIONS

    params = inspect.signature(REDUCTIONS.get(reduce)).parameters
    takes = [p for p in list(params)[1:] if params[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
             or params[p].kind is inspect.Parameter.KEYWORD_ONLY]
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in args:
        if key not in takes and not open_ended:
            raise v.fail(f"{keypath}.{key}", f"reduction {reduce!r} takes no argument {key!r}",
                         f"its arguments: {', '.join(takes) or 'none'}")
    missing = [p for p in takes if params[p].default is inspect.Parameter.empty and p not in args]
    if missing:
        raise v.fail(keypath, f"reduction {reduce!r} needs the argument(s) {', '.join(missing)}",
                     f"add args: {{{missing[0]}: ...}}")


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file (the data file is read separately, at collection)."""
    from pytest_trustllm.metrics import REDUCTIONS

    path = Path(path)
    doc, lines = read_yaml(path)
    v = _V(path, lines)
    if not isinstance(doc, dict):
        raise v.fail("", f"a suite is a mapping at the top level, got {type(doc).__name__}",
                     f"start with '{DECLARATION}: {SCHEMA_VERSION}'")
    v.keys(doc, TOP_KEYS, "")
    for k, need in TOP_KEYS.items():
        if need == "required" and k not in doc:
            raise v.fail("", f"missing required key {k!r}", _REQUIRED_FIX.get(k, f"add '{k}:'"))
    version = doc[DECLARATION]
    if version != SCHEMA_VERSION:
        raise v.fail(DECLARATION, f"unsupported suite schema version {version!r}",
                     f"this pytest-trustllm reads version {SCHEMA_VERSION}")
    sid = v.string(doc["id"], "id")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*", sid):
        raise v.fail("id", f"invalid suite id {sid!r}", "use letters, digits, '_', '-', '.' and '/' between parts")
    dimension = v.string(doc["dimension"], "dimension")
    if not MARKER_RE.match(dimension):
        raise v.fail("dimension", f"{dimension!r} cannot be a pytest marker",
                     f"use one of {', '.join(DIMENSIONS)} or a plain identifier")
    task = v.string(doc.get("task", sid.rsplit("/", 1)[-1]), "task")
    if not MARKER_RE.match(task):
        raise v.fail("task", f"{task!r} cannot be a pytest marker", "use a plain identifier (letters, digits, _)")
    markers = v.string_list(doc.get("markers", []), "markers")
    for i, m in enumerate(markers):
        if not MARKER_RE.match(m):
            raise v.fail(f"markers[{i}]", f"{m!r} cannot be a pytest marker", "use a plain identifier")
    data = v.string(doc["data"], "data")
    flt = v.mapping(doc.get("filter", {}), "filter")

    rec = v.mapping(doc.get("record", {}), "record")
    v.keys(rec, RECORD_KEYS, "record")
    record = RecordSpec(
        id=v.opt_string(rec.get("id"), "record.id"),
        prompt=v.opt_string(rec.get("prompt", None if "prompt_template" in rec else "prompt"), "record.prompt"),
        prompt_template=v.opt_string(rec.get("prompt_template"), "record.prompt_template"),
        fields=v.string_list(rec.get("fields", []), "record.fields"),
        group=_group(v, rec.get("group")),
        stratify=v.opt_string(rec.get("stratify"), "record.stratify"),
    )
    if record.prompt and record.prompt_template:
        raise v.fail("record.prompt_template", "give either record.prompt or record.prompt_template, not both")
    if not record.prompt and not record.prompt_template:
        raise v.fail("record", "no prompt: set record.prompt (a field name) or record.prompt_template")

    gen = v.mapping(doc.get("generation", {}), "generation")
    v.keys(gen, GENERATION_KEYS, "generation")
    generation = GenerationSpec(
        temperature=v.number(gen.get("temperature", 0.0), "generation.temperature"),
        max_new_tokens=int(v.typed(gen.get("max_new_tokens", 512), int, "generation.max_new_tokens", "an integer")),
        system_prompt=v.opt_string(gen.get("system_prompt"), "generation.system_prompt"),
    )
    if not 0.0 <= generation.temperature <= 2.0:
        raise v.fail("generation.temperature", f"temperature {generation.temperature} is outside 0..2")
    if generation.max_new_tokens < 1:
        raise v.fail("generation.max_new_tokens", "must be at least 1")

    sc = doc["scorer"]
    if isinstance(sc, str):
        sc = {"name": sc}
    sc = v.mapping(sc, "scorer")
    v.keys(sc, SCORER_KEYS, "scorer")
    if "name" not in sc:
        raise v.fail("scorer", "missing scorer name", "add 'name: <registered scorer>'")
    scorer = ScorerSpec(v.string(sc["name"], "scorer.name"), v.mapping(sc.get("args", {}), "scorer.args"))
    _check_scorer(v, scorer.name)

    mlist = v.typed(doc["metrics"], list, "metrics", "a list of metrics")
    if not mlist:
        raise v.fail("metrics", "a suite needs at least one metric")
    metrics: list[tuple[MetricSpec, str | None]] = []
    keypaths: list[str] = []
    names_by_mode: dict[str | None, set[str]] = {}
    for m, kp in expand_metrics(mlist, v):
        m = v.mapping(m, kp)
        v.keys(m, METRIC_KEYS, kp)
        for req in ("name", "reduce"):
            if req not in m:
                raise v.fail(kp, f"missing {req!r}", "each metric needs 'name' and 'reduce'")
        name = v.string(m["name"], f"{kp}.name")
        reduce = v.string(m["reduce"], f"{kp}.reduce")
        if reduce not in REDUCTIONS:
            raise v.fail(f"{kp}.reduce", f"unknown reduction {reduce!r}", _did_you_mean(reduce, REDUCTIONS.names()))
        direction = v.string(m.get("direction", "higher"), f"{kp}.direction")
        if direction not in ("higher", "lower", "none"):
            raise v.fail(f"{kp}.direction", f"invalid direction {direction!r}", "use higher, lower or none")
        mode = v.opt_string(m.get("rules"), f"{kp}.rules")
        if mode is not None and mode not in RULE_MODES:
            raise v.fail(f"{kp}.rules", f"invalid rules mode {mode!r}", f"use one of {', '.join(RULE_MODES)}")
        for other in ([None] if mode else [None, *RULE_MODES]) + ([mode] if mode else []):
            if name in names_by_mode.get(other, set()):
                raise v.fail(f"{kp}.name", f"metric {name!r} is defined twice for the same rules mode",
                             "give each metric a unique name, or limit the variants with 'rules: paper|toolkit'")
        names_by_mode.setdefault(mode, set()).add(name)
        args = v.mapping(m.get("args", {}), f"{kp}.args")
        _check_reduction_args(v, reduce, args, f"{kp}.args")
        spec = MetricSpec(
            name=name, reduce=reduce, direction=direction,
            where=v.mapping(m.get("where", {}), f"{kp}.where"),
            args=args,
            of=v.string_list(m.get("of", []), f"{kp}.of"),
            scale=v.number(m.get("scale", 1.0), f"{kp}.scale"),
            round=None if m.get("round") is None else int(v.typed(m["round"], int, f"{kp}.round", "an integer")),
            description=v.opt_string(m.get("description"), f"{kp}.description") or "",
            group=v.opt_string(m.get("group"), f"{kp}.group"),
        )
        metrics.append((spec, mode))
        keypaths.append(kp)
    for kp, (spec, mode) in zip(keypaths, metrics):
        known = names_by_mode.get(None, set()) | (names_by_mode.get(mode, set()) if mode else set().union(*names_by_mode.values()))
        for j, ref in enumerate(spec.of):
            if ref not in known or ref == spec.name:
                raise v.fail(f"{kp}.of[{j}]", f"unknown metric {ref!r}", _did_you_mean(ref, sorted(known)))

    gates: list[GateSpec] = []
    all_names = set().union(*names_by_mode.values())
    for i, g in enumerate(v.typed(doc.get("gates", []) or [], list, "gates", "a list of gates")):
        kp = f"gates[{i}]"
        g = v.mapping(g, kp)
        v.keys(g, GATE_KEYS, kp)
        for req in ("metric", "op", "threshold"):
            if req not in g:
                raise v.fail(kp, f"missing {req!r}", "a gate is {metric: NAME, op: '>=', threshold: NUMBER}")
        metric = v.string(g["metric"], f"{kp}.metric")
        if metric not in all_names:
            raise v.fail(f"{kp}.metric", f"unknown metric {metric!r}", _did_you_mean(metric, sorted(all_names)))
        op = v.string(g["op"], f"{kp}.op")
        if op not in GATE_OPS:
            raise v.fail(f"{kp}.op", f"invalid operator {op!r}", f"use one of {', '.join(GATE_OPS)}")
        gates.append(GateSpec(metric, op, v.number(g["threshold"], f"{kp}.threshold"),
                              v.opt_string(g.get("source"), f"{kp}.source") or ""))

    chunk = int(v.typed(doc.get("chunk_size", 64), int, "chunk_size", "an integer"))
    if chunk < 1:
        raise v.fail("chunk_size", "must be at least 1")
    return SuiteSpec(
        path=path, id=sid, title=v.opt_string(doc.get("title"), "title") or sid, dimension=dimension, task=task,
        markers=markers, description=(v.opt_string(doc.get("description"), "description") or "").strip(),
        data=data, filter=flt, record=record, generation=generation, scorer=scorer, metrics=tuple(metrics),
        gates=tuple(gates), chunk_size=chunk, lines=lines,
    )


_REQUIRED_FIX = {
    DECLARATION: f"add '{DECLARATION}: {SCHEMA_VERSION}' as the first line",
    "id": "add 'id: my/suite' (a unique id)",
    "dimension": f"add 'dimension:' (one of {', '.join(DIMENSIONS)})",
    "data": "add 'data: records.jsonl' (a path relative to the suite) or 'data: trustllm:<dimension>/<file>.json'",
    "scorer": "add 'scorer: {name: <registered scorer>, args: {...}}'",
    "metrics": "add 'metrics: [{name: pass_rate, reduce: proportion}]'",
}


def _did_you_mean(name: str, valid) -> str:
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    return (f"did you mean '{close[0]}'? " if close else "") + f"valid: {', '.join(valid)}"


def _check_scorer(v: _V, name: str) -> None:
    from pytest_trustllm.scoring.scorers import SCORERS

    if name not in SCORERS:
        raise v.fail("scorer.name", f"unknown scorer {name!r}", _did_you_mean(name, SCORERS.names()))


def _group(v: _V, g: Any) -> Any:
    if g is None or isinstance(g, str):
        return g
    if isinstance(g, list):
        return v.string_list(g, "record.group")
    g = v.mapping(g, "record.group")
    v.keys(g, ("consecutive", "where"), "record.group")
    n = v.typed(g.get("consecutive"), int, "record.group.consecutive", "an integer (the group size)")
    if n < 2:
        raise v.fail("record.group.consecutive", "a group needs at least 2 records")
    return {"consecutive": n, "where": v.mapping(g.get("where", {}), "record.group.where")}
