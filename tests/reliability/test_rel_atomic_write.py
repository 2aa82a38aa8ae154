"""Reports are written atomically: a process SIGKILLed while writing the results JSON (or the
baseline, which uses the same writer) or the HTML report leaves the previous file whole, never half
a report. The kill is injected inside the writer itself, between the temporary write and the rename;
the same kill against a plain ``open(path, "w")`` writer does leave a broken file (the control that
shows the check can fail)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import rel_helpers as H

OLD = {"old": "a complete earlier report"}

# a value whose str() kills the process: json.dump(default=str) reaches it after ~2 MB of output,
# so the kill lands mid-write, with part of the new document already on disk
KILL_MID_JSON = textwrap.dedent("""
    import json, os, signal, sys
    class KillHere:
        def __str__(self):
            os.kill(os.getpid(), signal.SIGKILL)
    doc = {"items": ["x" * 1000] * 2000 + [KillHere()]}
    if sys.argv[2] == "atomic":
        from pytest_trustllm.render.report import write_json_atomic
        write_json_atomic(sys.argv[1], doc)
    else:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            json.dump(doc, f, default=str)
""")

# the HTML page is rendered whole, then written: the kill lands at the rename
KILL_AT_RENAME = textwrap.dedent("""
    import os, signal, sys
    os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
    from pytest_trustllm.render.html import write_html
    write_html(sys.argv[1], {"suites": [], "model": {"spec": "fake"}, "exit": {"status": 0, "reason": ""}})
""")


def killed(code: str, path: Path, mode: str = "atomic") -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-c", code, str(path), mode], capture_output=True, text=True,
                       env=H.env(), timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    return r


def leftovers(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if p != path)


def test_results_json_killed_mid_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(OLD), encoding="utf-8")
    killed(KILL_MID_JSON, path)
    assert json.loads(path.read_text(encoding="utf-8")) == OLD
    (tmp,) = leftovers(path)  # the kill really landed mid-write: the temporary file holds part of it
    assert tmp.name.startswith("results.json") and tmp.name.endswith(".tmp")
    assert tmp.stat().st_size > 1_000_000
    assert not tmp.read_text(encoding="utf-8").rstrip().endswith("}")


def test_the_same_kill_breaks_a_plain_writer(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(OLD), encoding="utf-8")
    killed(KILL_MID_JSON, path, mode="plain")
    text = path.read_text(encoding="utf-8")
    assert len(text) > 1_000_000 and text.startswith('{"items": ["x')
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return
    raise AssertionError("a plain writer killed mid-write left a complete file: the kill did not land")


def test_html_report_killed_before_the_rename_keeps_the_previous_page(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("<html>the earlier report</html>", encoding="utf-8")
    killed(KILL_AT_RENAME, path)
    assert path.read_text(encoding="utf-8") == "<html>the earlier report</html>"
    (tmp,) = leftovers(path)
    assert tmp.read_text(encoding="utf-8").rstrip().endswith("</html>")  # the new page was complete
