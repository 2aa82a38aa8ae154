"""Hostile model responses (control characters, characters XML forbids, 1 MB of text, right-to-left
overrides, emoji, markup): the terminal, the results JSON, the JUnit file (validated against its
schema) and the HTML report stay valid, and every item is still scored."""
from __future__ import annotations

import html.parser
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import rel_helpers as H
from tests.servers.openai_fault import FaultConfig, FaultServer

pytestmark = pytest.mark.slow

HOSTILE = {
    "ctrl": "bell\x07 esc\x1b[31mred\x1b[0m clear\x1b[2J nul\x00 bs\x08 del\x7f cr\rnext c1\x9b",
    "xmlbad": "\x01\x02\x0b\x0c\x1f \ufffe \uffff end",
    "rtl": "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u200f\u2066iso\u2069",
    "emoji": "\U0001F600\U0001F469\u200D\U0001F469\u200D\U0001F467 \U0001F1FA\U0001F1F8 zero\u200bwidth \U0010FFFD",
    "megabyte": "Sure, " + "\u00e9x\U0001F600" * 170_000,  # about 1 MB of UTF-8, mixed widths
    "markup": "]]> </failure><injected/> <![CDATA[ & &amp; \" ' </script><script>alert(1)</script> <!-- x",
    "refusal": "I'm sorry \x1b[8mhidden\x1b[0m \u202e.tpircs",
}
# any of these reaching the terminal raw can rewrite what the reader sees
TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hostile_reply(req: dict) -> str:
    return HOSTILE[req["messages"][-1]["content"].split()[-1]]


def _rows(keys) -> list[dict]:
    return [{"id": k, "prompt": f"say {k}", "kind": "harmful", "expect": "refuse"} for k in keys]


def _run(folder: Path, server: FaultServer, *extra: str):
    return H.run_pytest(folder, "suites", "--trust-model=openai:m", f"--trust-base-url={server.base_url}",
                        "--trust-cache=cache.sqlite", "--trust-report=results.json", "--junitxml=junit.xml",
                        "--trust-html=report.html", "--trust-retries=0", "-vv", "-rA", *extra,
                        extra_env={"OPENAI_API_KEY": "sk-local-placeholder"})


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    H.write_suite(folder, _rows(HOSTILE))
    with FaultServer(FaultConfig(reply=hostile_reply)) as srv:
        run = _run(folder, srv)
    return folder, run


def test_every_item_scored_and_results_json_valid(hostile_run) -> None:
    folder, run = hostile_run
    assert run.returncode == 0, run.stdout[-3000:]
    raw = (folder / "results.json").read_bytes()
    text = raw.decode("utf-8")  # valid UTF-8
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    recs = H.records_by_id(doc)
    assert set(recs) == set(HOSTILE)
    assert {r["outcome"] for r in recs.values()} <= {"pass", "violation"}
    assert recs["refusal"]["outcome"] == "pass" and recs["ctrl"]["outcome"] == "violation"
    # the violations keep the response excerpt exactly (JSON escapes what it must)
    assert recs["ctrl"]["response"] == HOSTILE["ctrl"]
    assert recs["markup"]["response"] == HOSTILE["markup"]
    assert recs["megabyte"]["response"].startswith(HOSTILE["megabyte"][:1000])
    assert len(recs["megabyte"]["response"]) < 1100
    assert len(raw) < 100_000


def test_junit_valid(hostile_run) -> None:
    """Well-formed XML that validates against junit-10.xsd, each item once."""
    folder, _ = hostile_run
    if not H.JUNIT_XSD.exists():
        pytest.skip(f"no JUnit schema at {H.JUNIT_XSD}")
    tree = ET.parse(folder / "junit.xml")  # well-formed, or this raises
    names = [c.get("name") for c in tree.getroot().iter("testcase") if c.get("classname", "").startswith("suites.")]
    assert sorted(names) == sorted(HOSTILE)
    H.validate_junit(folder / "junit.xml")


def test_html_report_escapes_everything(hostile_run) -> None:
    folder, _ = hostile_run
    page = (folder / "report.html").read_bytes().decode("utf-8")
    assert "<injected/>" not in page and "<script>alert(1)</script>" not in page
    assert "&lt;injected/&gt;" in page

    class Check(html.parser.HTMLParser):
        tags: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

    p = Check()
    p.feed(page)
    p.close()
    assert "injected" not in p.tags
    assert p.tags.count("script") == 1  # only the report's own script (html.py writes one, at the end)


def test_terminal_shows_no_raw_control_sequences(hostile_run) -> None:
    _, run = hostile_run
    out = run.stdout + run.stderr
    bad = TERMINAL_UNSAFE.search(out)
    assert bad is None, repr(out[max(0, bad.start() - 80): bad.end() + 20])
    assert "INTERNALERROR" not in out


def test_terminal_strict_mode_shows_no_raw_control_sequences(tmp_path: Path) -> None:
    H.write_suite(tmp_path, _rows(["ctrl", "rtl", "refusal"]))
    with FaultServer(FaultConfig(reply=hostile_reply)) as srv:
        run = _run(tmp_path, srv, "--trust-strict")
    out = run.stdout + run.stderr
    assert "violated" in out  # the failure reports were rendered
    bad = TERMINAL_UNSAFE.search(out)
    assert bad is None, repr(out[max(0, bad.start() - 80): bad.end() + 20])


def test_lone_surrogate_in_one_response_breaks_nothing_else(tmp_path: Path) -> None:
    replies = {"broken": "half an emoji \ud83d", "fine": "I'm sorry, no."}
    H.write_suite(tmp_path, _rows(replies))
    with FaultServer(FaultConfig(reply=lambda req: replies[req["messages"][-1]["content"].split()[-1]])) as srv:
        run = _run(tmp_path, srv)
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    recs = H.records_by_id(doc)
    assert recs["fine"]["outcome"] == "pass", recs["fine"].get("message")
    # the doc's promise: the lone surrogate becomes U+FFFD, the item is scored (a compliance, so a violation)
    assert recs["broken"]["outcome"] == "violation", recs["broken"].get("message")
    assert recs["broken"]["response"] == "half an emoji \ufffd"
    assert run.returncode == 0, run.stdout[-3000:]
    assert "INTERNALERROR" not in run.stdout + run.stderr
