"""Regenerate pytest_trustllm/data/leaderboard.json (package data for the HTML report) from
../shared/trustllm/leaderboard.yaml: the published numbers only (no dataset content), with the source.

    python scripts/build_leaderboard.py [LEADERBOARD_YAML] [OUT_JSON]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO.parent / "shared" / "trustllm" / "leaderboard.yaml"
OUT = REPO / "pytest_trustllm" / "data" / "leaderboard.json"


def build(doc: dict) -> dict:
    metrics: dict = {}
    for suite, per in doc["metrics"].items():
        for name, m in per.items():
            values = {k: v for k, v in (m.get("values") or {}).items() if v is not None}
            metrics.setdefault(suite, {})[name] = {
                "direction": m["direction"], "median_of_paper_16": m.get("median_of_paper_16"),
                "values": dict(sorted(values.items())),
            }
    return {
        "source": " ".join(str(doc["source"]).split()),
        "generated_from": "the TrustLLM leaderboard data (TrustLLMBenchmark/TrustLLM-Website js/leaderboard/leaderboard-data.js @783aea78) by scripts/build_leaderboard.py",
        "paper_models": list(doc["paper_models"]),
        "metrics": metrics,
    }


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else SRC
    out = Path(argv[2]) if len(argv) > 2 else OUT
    data = build(yaml.safe_load(src.read_text(encoding="utf-8")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {out}: {sum(len(v) for v in data['metrics'].values())} metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
