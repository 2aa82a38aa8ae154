"""Judge calibration: the figures (agreement, Cohen's kappa, RtA bias with intervals), the bundled
reference set, the ``calibrate`` command, and that the shipped figures of the offline classifier are
what that command prints today."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_trustllm.__main__ import main
from pytest_trustllm.scoring.calibrate import figures, kappa, load_reference, run_attachment, shipped_path


def test_kappa_matches_hand_computed_values() -> None:
    # 2x2 table: both refuse 20, both answer 15, official-only 5, judge-only 10 (n=50)
    a = [1] * 20 + [0] * 15 + [1] * 5 + [0] * 10
    b = [1] * 20 + [0] * 15 + [0] * 5 + [1] * 10
    po, pa, pb = 35 / 50, 25 / 50, 30 / 50
    pe = pa * pb + (1 - pa) * (1 - pb)
    assert kappa(a, b) == pytest.approx((po - pe) / (1 - pe))
    assert kappa([1, 1, 1], [1, 1, 1]) is None  # one class: chance agreement is 1, kappa undefined
    assert kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)


def test_figures_count_undecided_against_the_judge_and_bootstrap_the_bias() -> None:
    official = [1] * 60 + [0] * 40
    judged = [1] * 50 + [None] * 10 + [0] * 30 + [1] * 10
    f = figures(official, judged, seed=3)
    assert f["undecided"] == 10
    assert f["agreement"] == pytest.approx(80 / 100)  # the 10 undecided refusals count as answered
    assert f["rta_official"] == pytest.approx(0.6) and f["rta_judge"] == pytest.approx(0.6)
    assert f["bias"] == pytest.approx(0.0)
    lo, hi = f["bias_ci"]
    assert lo < 0 < hi and hi - lo < 0.2
    lo, hi = f["agreement_ci"]
    assert lo < 0.8 < hi
    assert f == figures(official, judged, seed=3)  # seeded


def test_reference_set_is_a_few_hundred_labelled_responses_per_task() -> None:
    rows = load_reference()
    tasks = {}
    for r in rows:
        tasks[r["task"]] = tasks.get(r["task"], 0) + 1
        assert r["label"] in ("refusal", "answered") and isinstance(r["response"], str)
        assert r["label"] == {"LABEL_0": "refusal", "LABEL_1": "answered"}[r["eval_res"]]
    assert len(tasks) == 6 and all(200 <= n <= 500 for n in tasks.values()), tasks
    assert len({r["model"] for r in rows}) == 6


def test_calibrate_command_recorded_labels_agree_perfectly_keyword_does_not(tmp_path: Path, capsys) -> None:
    out = tmp_path / "rec.json"
    assert main(["calibrate", "--trust-refusal=recorded", "--per-task=50", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["overall"]["n"] == 300 and rec["overall"]["agreement"] == 1.0 and rec["overall"]["kappa"] == 1.0
    assert main(["calibrate", "--trust-refusal=keyword", "--per-task=50", "--out", str(out)]) == 0
    kw = json.loads(out.read_text())
    assert kw["overall"]["agreement"] < 0.9 and kw["overall"]["bias"] < 0  # keywords miss refusals
    assert "| safety/jailbreak | 50 |" in capsys.readouterr().out
    assert main(["calibrate", "--trust-refusal=nosuch"]) == 4


def test_shipped_offline_figures_are_what_the_command_prints(tmp_path: Path) -> None:
    shipped = json.loads(shipped_path("offline").read_text())
    out = tmp_path / "offline.json"
    assert main(["calibrate", "--trust-refusal=offline", "--out", str(out)]) == 0
    now = json.loads(out.read_text())
    assert now["overall"] == shipped["overall"] and now["tasks"] == shipped["tasks"]
    assert shipped["judge"]["name"] == "offline" and "in-sample" in shipped["note"]


def test_run_attachment(tmp_path: Path) -> None:
    att = run_attachment("shipped", "offline")
    assert att["available"] and att["matches_run"] and att["overall"]["n"] == 1800
    other = run_attachment("shipped", "longformer")
    assert not other["available"] and "calibrate --trust-refusal=longformer" in other["note"]
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert not run_attachment(str(bad), "offline")["available"]
    assert not run_attachment("shipped", "keyword")["available"]
    assert run_attachment(str(shipped_path("offline")), "keyword")["matches_run"] is False


def test_calibrate_an_llm_judge_against_a_local_openai_compatible_server(tmp_path: Path, monkeypatch) -> None:
    from tests.servers.openai_fault import FaultConfig, FaultServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-placeholder")

    def reply(req: dict) -> str:
        text = req["messages"][-1]["content"].split("Here is the response:\n", 1)[1].lower()
        if len(text) % 7 == 0:
            return "maybe"  # an answer that is neither label: undecided
        return "REFUSAL" if ("sorry" in text or "cannot" in text or "can't" in text) else "COMPLIANCE"

    out = tmp_path / "judge.json"
    with FaultServer(FaultConfig(reply=reply)) as srv:
        status = main(["calibrate", "--trust-refusal=judge", "--trust-judge=openai:m", "--trust-base-url",
                       srv.base_url, "--per-task=20", "--out", str(out)])
        asked = sum(srv.stats.answered.values())
    assert status == 0
    res = json.loads(out.read_text())
    rows = [part[int(i * len(part) / 20)] for part in _by_task(load_reference()).values() for i in range(20)]
    assert asked == len({r["response"] for r in rows})  # one judge call per distinct response
    undecided = sum(1 for r in rows if len(r["response"].lower()) % 7 == 0)
    assert res["overall"]["n"] == 120 and res["overall"]["undecided"] == undecided > 0
    assert res["judge"]["name"] == "judge" and 0.3 < res["overall"]["agreement"] < 1.0
    assert len(res["reference"]["models"]) == 6  # spread over the models, not the first one's rows


def _by_task(rows):
    out = {}
    for r in rows:
        out.setdefault(r["task"], []).append(r)
    return out
