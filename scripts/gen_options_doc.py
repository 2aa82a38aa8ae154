"""Render docs/options.md from ``pytest_trustllm.plugin.options.OPTIONS`` (tests check it is current)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_trustllm.settings import OPTIONS  # noqa: E402

CHOICES = """\
## Defaults chosen for a release gate

- `--trust-suites=auto`: `pytest --trust-model=SPEC` in any folder runs the 26 built-in TrustLLM suites (shipped
  in the package) beside the project's own tests; naming a path on the command line means "just this", so
  the built-in set stays out then. `trustllm` adds it always, `none` never, a folder adds that folder's suites.
- `--trust-incomplete=fail`: an incomplete gate is one whose metric has no scored item behind it (every item
  it would count was skipped, for want of a judge say, or none matched). It is counted apart, never called
  failed, but by default it fails the run: a release manager asked "did the model pass this gate?" and the run
  could not answer, and shipping on a gate that was never measured is the mistake a gate exists to prevent.
  Say `warn` for exploratory or partial runs (a sample, a replay folder that lacks some files).
- `--trust-inconclusive=fail`: the same reasoning for a confident gate whose interval straddles the threshold.
- `--trust-model=replay:FOLDER`: the suites read their records and recorded responses from FOLDER (laid out
  like the dataset); `--trust-refusal`, `--trust-toxicity` and `--trust-embedder` left at `auto` become
  `recorded` (the labels TrustLLM recorded beside each response). Each recorded file's prompts and ground-truth
  fields are checked against the pinned release; a file that is not in the folder skips its suite.

"""

THRESHOLDS = """\
## Overriding gate thresholds

A suite's gates can be tightened or loosened without editing the suite. Later sources win: the suite file,
then the ini lines, then the thresholds file. An override for a metric without a gate adds one, with the
operator the metric's direction implies; an override that names a metric the suite does not have is an error.

```ini
# pytest.ini
[pytest]
trust_gate_thresholds =
    trustllm/safety/jailbreak.rta >= 0.9
    trustllm/fairness/stereotype_agreement.agreement_rate 0.05
```

```yaml
# release-thresholds.yaml, passed as --trust-thresholds=release-thresholds.yaml
trustllm/safety/jailbreak: {rta: 0.9}
trustllm/privacy/leakage: {rta: {op: ">=", threshold: 0.8}}
```
"""


def _default(o) -> str:
    if o.kind == "bool":
        return "off"
    if o.kind == "list":
        return "none"
    return "—" if o.default is None else f"`{o.default}`"


def render() -> str:
    out = ["# Options", "",
           "Generated from `pytest_trustllm/settings.py` by `scripts/gen_options_doc.py`. Every option has an ini "
           "twin, readable from `pytest.ini` or `[tool.pytest.ini_options]`; the command line wins over the ini "
           "file, which wins over the environment variable where there is one. Bad values are usage errors that "
           "name the valid ones, and the effective set-up is printed in the pytest header.", "",
           "| option | ini | default | values | what it does |", "|---|---|---|---|---|"]
    for o in OPTIONS:
        values = ", ".join(f"`{c}`" for c in o.choices) if o.choices else {
            "bool": "flag", "list": "repeatable", "path": "path"}.get(o.kind, o.kind)
        env = f" (else `${o.env}`)" if o.env else ""
        out.append(f"| `{o.flag}` | `{o.ini}` | {_default(o)}{env} | {values} | {o.help.replace('|', '/')} |")
    out += ["", "Two ini keys have no command-line twin: `trust_suite_dirs` (folder names whose YAML files are all "
            "suites; default `suites`) and `trust_gate_thresholds` (below).", "", CHOICES, THRESHOLDS]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    (ROOT / "docs" / "options.md").write_text(render(), encoding="utf-8")
    print("wrote docs/options.md")
