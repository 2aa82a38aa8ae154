"""The HTML report (--trust-html): self-contained, and what a person sees in a real headless browser
(Debian's chromium): the six-axis overview chart, the ranking against the published models and the
item filter, driven through the URL fragment as a user's link would."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import REPO, SHARED

RECORDED = Path(os.environ.get("TRUSTLLM_RECORDED") or SHARED / "trustllm" / "recorded") / "mistral-7b"
LEADERBOARD_YAML = SHARED / "trustllm" / "leaderboard.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SUITES = ("robustness/advglue", "privacy/confaide", "truthfulness/external")


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'chromium'}",
         *args], capture_output=True, text=True, timeout=120)


def test_the_shipped_leaderboard_is_generated_from_the_shared_one():
    if not LEADERBOARD_YAML.is_file():
        pytest.skip(f"{LEADERBOARD_YAML} not present")
    import yaml

    spec = importlib.util.spec_from_file_location("build_leaderboard", REPO / "scripts" / "build_leaderboard.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from pytest_trustllm.render.leaderboard import leaderboard

    assert leaderboard() == mod.build(yaml.safe_load(LEADERBOARD_YAML.read_text()))
    assert "783aea78" in leaderboard()["source"]


def test_rank_among_the_paper_models():
    from pytest_trustllm.render.leaderboard import rank

    published = {"a": 0.9, "b": 0.8, "c": 0.8, "d": 0.5, "e": 0.1}
    assert rank(0.85, "higher", published, "abcde") == {"rank": 2, "of": 6, "share_beaten": 0.8}
    assert rank(0.8, "higher", published, "abcde") == {"rank": 2, "of": 6, "share_beaten": 0.6}  # ties share
    assert rank(0.05, "lower", published, "abcde") == {"rank": 1, "of": 6, "share_beaten": 1.0}
    assert rank(0.5, "higher", published, "xyz") is None


@pytest.fixture
def report(single):
    if not RECORDED.is_dir():
        pytest.skip(f"recorded responses not found at {RECORDED}")
    paths = [str(REPO / "suites" / "trustllm" / f"{s}.yaml") for s in SUITES]
    result = single.run(*paths, "--trust-model=replay", f"--trust-data={RECORDED}", "--trust-allow-modified-data",
                        "--trust-cache=off", "--trust-report=results.json", "--trust-html=report.html")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["HTML report: report.html"])
    return single.path / "report.html", json.loads((single.path / "results.json").read_text())


def test_the_page_is_self_contained(report):
    page, _ = report
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert html.count("<script>") == 1 and "<script src" not in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); "
                                             "the browser test needs a real headless browser")
def test_the_report_in_a_headless_browser(report, tmp_path):
    page, results = report
    advglue = next(s for s in results["suites"] if s["id"] == "trustllm/robustness/advglue")
    violations = [r["id"] for r in advglue["records"] if r["outcome"] == "violation"]
    everything = sum(1 for s in results["suites"] for r in s["records"] if r["outcome"] in ("violation", "error"))
    assert 0 < len(violations) < everything

    url = page.as_uri() + f"#suite={quote(advglue['id'], safe='')}&verdict=violation"
    done = chromium("--dump-dom", url, tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # the filter script ran and applied the fragment's filter
    assert f'data-filter="suite={advglue["id"]};verdict=violation;shown={len(violations)}"' in dom
    assert f'<b id="shown">{len(violations)}</b>' in dom and f'<b id="total">{everything}</b>' in dom
    rows = re.findall(r'<tr data-suite="([^"]*)" data-verdict="([^"]*)"[^>]*?(hidden="")?>\s*<td>[^<]*</td>'
                      r'<td><code>([^<]*)</code>', dom)
    assert len(rows) == everything
    visible = [(s, v, i) for s, v, h, i in rows if not h]
    assert visible == [(advglue["id"], "violation", i) for i in violations]
    # six axes, one per TrustLLM dimension
    axes = re.findall(r'<line class="axis" data-dimension="([a-z]+)"', dom)
    assert axes == ["truthfulness", "safety", "fairness", "robustness", "privacy", "ethics"]
    # where the model would rank: one row per measured leaderboard metric
    ranking = dom[dom.index('id="ranking"'):dom.index('id="suites"')]
    for suite_id, metric in (("trustllm/robustness/advglue", "rs"), ("trustllm/privacy/confaide", "pearson"),
                             ("trustllm/truthfulness/external", "external")):
        assert re.search(rf"<td>{re.escape(suite_id)}</td><td>{metric}↑</td>.*?<b>\d+</b> of 17", ranking), metric

    # a text search in the fragment narrows further
    done = chromium("--dump-dom", page.as_uri() + f"#q={violations[0]}", tmp=tmp_path)
    assert 'shown=1"' in done.stdout

    shot = tmp_path / "report.png"
    done = chromium("--hide-scrollbars", "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri(), tmp=tmp_path)
    assert shot.is_file() and shot.stat().st_size > 20_000, done.stderr[-2000:]


def test_the_page_inlines_the_package_css_and_js_once():
    """The style and the filter script are package files (pytest_trustllm/render/html_templates/), inlined verbatim."""
    from importlib.resources import files

    from pytest_trustllm.render.html import render

    folder = files("pytest_trustllm.render").joinpath("html_templates")
    css, js = (folder.joinpath(n).read_text(encoding="utf-8") for n in ("report.css", "report.js"))
    page = render({"suites": [], "model": {"spec": "fake"}, "exit": {"status": 0, "reason": ""}})
    assert page.count(css) == 1 and page.count(js) == 1
    assert page.index("<style>") < page.index(css) < page.index("</style>")
    assert page.index("<script>") < page.index(js) < page.index("</script>")
