"""docs/options.md is generated from the options table, and its threshold examples name real metrics."""
import importlib.util
import re
from pathlib import Path

import yaml

from pytest_trustllm.verdict.gates import read_thresholds_file
from pytest_trustllm.settings import threshold_lines
from pytest_trustllm.suite.load import load_suite

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "options.md"


def _render() -> str:
    spec = importlib.util.spec_from_file_location("gen_options_doc", ROOT / "scripts" / "gen_options_doc.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.render()


def _metrics() -> dict[str, set[str]]:
    out = {}
    for path in (ROOT / "suites" / "trustllm").rglob("*.yaml"):
        suite = load_suite(path)
        out[suite.id] = {m.name for m, _ in suite.metrics}
    return out


def test_options_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == _render(), "docs/options.md is stale: run python scripts/gen_options_doc.py"


def test_threshold_examples_parse_and_name_real_metrics(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    ini = re.search(r"```ini\n(.*?)```", text, re.S).group(1)
    lines = yaml.safe_load(ini.split("trust_gate_thresholds =", 1)[1].replace("\n    ", "\n- "))
    yaml_block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "t.yaml").write_text(yaml_block, encoding="utf-8")

    named = [(s, m) for s, m, _, _ in threshold_lines(lines)]
    named += [(o.suite, o.metric) for o in read_thresholds_file(tmp_path / "t.yaml")]
    metrics = _metrics()
    assert len(named) == 4
    for suite, metric in named:
        assert metric in metrics[suite], f"{suite}.{metric} is not a metric of that suite"
