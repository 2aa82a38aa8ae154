"""The ``--trust-*`` options on pytest's command line and ini file (the table is ``settings.OPTIONS``),
resolved once into ``Settings``: CLI > ini > environment > default. Each option has ``default=None``
on the command line so that the ini key and the default can apply; a bad value is pytest's usage error
naming the valid values."""
from __future__ import annotations

import os
from typing import Any

import pytest

from pytest_trustllm.settings import OPTIONS, Settings, SettingsError, convert, settings_from, threshold_lines


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("trustllm", "TrustLLM trust checks")
    for o in OPTIONS:
        if o.kind == "bool":
            group.addoption(o.flag, action="store_true", default=None, dest=o.dest, help=o.help.replace("%", "%%"))
        elif o.kind == "list":
            group.addoption(o.flag, action="append", default=None, dest=o.dest, metavar="SPEC", help=o.help.replace("%", "%%"))
        else:
            meta = "{" + ",".join(o.choices) + "}" if o.choices else o.name.split("-")[-1].upper()
            group.addoption(o.flag, default=None, dest=o.dest, metavar=meta, help=f"{o.help} (ini: {o.ini})".replace("%", "%%"))
        ini_type = {"bool": "bool", "list": "args"}.get(o.kind, "string")
        parser.addini(o.ini, f"{o.help} (default: {o.default})", type=ini_type, default=None)
    parser.addini("trust_suite_dirs", "folder names whose YAML files are all suites", type="args",
                  default=["suites"])


def resolve(config: pytest.Config) -> Settings:
    try:
        return _resolve(config)
    except SettingsError as e:
        raise pytest.UsageError(str(e)) from None


def _resolve(config: pytest.Config) -> Settings:
    values: dict[str, Any] = {}
    for o in OPTIONS:
        cli = config.getoption(o.dest)
        if cli is not None:
            values[o.dest[6:]] = convert(o, cli, o.flag)
            continue
        ini = config.getini(o.ini)
        if ini not in (None, "", []):
            values[o.dest[6:]] = convert(o, ini, f"ini {o.ini}")
            continue
        if o.env and os.environ.get(o.env):
            values[o.dest[6:]] = convert(o, os.environ[o.env], f"${o.env}")
            continue
        values[o.dest[6:]] = o.default if o.kind != "list" else ()
    values["suite_dirs"] = tuple(config.getini("trust_suite_dirs") or ("suites",))
    values["threshold_overrides"] = tuple(threshold_lines(config.getini("trust_gate_thresholds") or []))
    return settings_from(values)


def add_threshold_ini(parser: pytest.Parser) -> None:
    parser.addini("trust_gate_thresholds", "gate threshold overrides, one per line: "
                  "'trustllm/safety/jailbreak.rta >= 0.9'", type="linelist", default=[])
