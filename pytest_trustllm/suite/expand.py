"""Generated metrics: one ``for_each`` entry in a suite's ``metrics:`` stands for one metric per value.

    - for_each: ["fixed sentence", no_punctuation, {value: cou, note: " (not in the paper's data)"}]
      defaults: {note: ""}
      metric: {name: "rta_{value|id}", reduce: proportion, where: {attack: "{value}"},
               description: "RtA on the {value} attack{note}"}

Each element binds ``value`` (a scalar) or a mapping of variables (``value`` among them); ``defaults`` fills
the variables an element leaves out (a default may use the element's own variables: ``{value}``). In every string of ``metric``, ``{var}`` is replaced by the variable
and ``{var|id}`` by it as an identifier (lower case, runs of other characters as ``_``); a string that is
exactly ``{var}`` becomes the variable's value itself (a number stays a number). The expansion happens
before validation, so a generated metric is checked like a written one.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterator, Mapping

GENERATED_KEYS = ("for_each", "defaults", "metric")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\|(id))?\}")


def identifier(value: Any) -> str:
    """``"Refusal sentence prohibition"`` -> ``"refusal_sentence_prohibition"``."""
    return re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_")


def substitute(template: Any, env: Mapping[str, Any], unknown: Callable[[str], Exception]) -> Any:
    """``template`` with every placeholder filled from ``env``; ``unknown(name)`` is raised for a missing one."""
    if isinstance(template, dict):
        return {k: substitute(v, env, unknown) for k, v in template.items()}
    if isinstance(template, list):
        return [substitute(v, env, unknown) for v in template]
    if not isinstance(template, str):
        return template

    def value(m: re.Match) -> Any:
        if m.group(1) not in env:
            raise unknown(m.group(1))
        v = env[m.group(1)]
        return identifier(v) if m.group(2) else v

    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return value(whole)
    return _PLACEHOLDER.sub(lambda m: str(value(m)), template)


def expand_metrics(entries: list, v) -> Iterator[tuple[Any, str]]:
    """(metric mapping, key path of its YAML) for each metric the list declares, in order.

    ``v`` is the loader's validator: its ``fail(keypath, message, fix)`` names the file and line."""
    for i, entry in enumerate(entries):
        kp = f"metrics[{i}]"
        if not (isinstance(entry, dict) and "for_each" in entry):
            yield entry, kp
            continue
        v.keys(entry, GENERATED_KEYS, kp)
        if "metric" not in entry:
            raise v.fail(kp, "a 'for_each' entry needs 'metric' (the template)",
                         "add 'metric: {name: \"x_{value|id}\", reduce: ..., where: {field: \"{value}\"}}'")
        values = v.typed(entry["for_each"], list, f"{kp}.for_each", "a list of values")
        if not values:
            raise v.fail(f"{kp}.for_each", "'for_each' is empty", "list the values to generate metrics for")
        defaults = v.mapping(entry.get("defaults", {}), f"{kp}.defaults")
        template = v.mapping(entry["metric"], f"{kp}.metric")
        for j, element in enumerate(values):
            ekp = f"{kp}.for_each[{j}]"
            if isinstance(element, dict):
                if "value" not in element:
                    raise v.fail(ekp, "a mapping in 'for_each' needs 'value'", "add 'value: ...'")
                own = dict(element)
            elif isinstance(element, list):
                raise v.fail(ekp, "expected a value or a mapping of variables, got a list")
            else:
                own = {"value": element}
            env = {**substitute({k: d for k, d in defaults.items() if k not in own}, own, lambda name: v.fail(
                f"{kp}.defaults", f"unknown variable {{{name}}} for the value {own['value']!r}",
                "a default can use the element's own variables only")), **own}
            metric = substitute(template, env, lambda name: v.fail(
                f"{kp}.metric", f"unknown variable {{{name}}} for the value {env['value']!r}",
                f"define {name!r} in this element or in 'defaults'"))
            yield metric, f"{kp}.metric"
