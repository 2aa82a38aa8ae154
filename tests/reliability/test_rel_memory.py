"""Memory stays bounded while reading large data files: a 100 MB data file is read and collected
with peak memory proportional to the file (measured as peak RSS of a fresh subprocess), and
without a hang.

Figures on the project's machine (2 cores), 100 MB of 1 KB records (about 99,000 items), peak RSS
growth: ``suite.records.read_records`` 4.6-4.7x the file size for JSONL, 3.3-3.6x for a JSON list
(bytes, decoded text and split lines held at once); the streaming
``pytest_trustllm.suite.readers.read_records`` 1.5-1.7x (the records themselves). ``pytest
--collect-only`` over the JSON list peaks at about 4.0x in all: most of the rest is pytest's own
99,000 item objects.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rel_helpers as H

pytestmark = pytest.mark.slow

SIZE = 100_000_000
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa", "lambda", "sigma"]


def write_big(path: Path, kind: str, size: int = SIZE) -> int:
    """About ``size`` bytes of TrustLLM-like records (a 1 KB prompt each); returns the count."""
    rnd = random.Random(0)
    prompts = [" ".join(rnd.choices(WORDS, k=150)) for _ in range(97)]  # a pool: generation stays fast
    n, written = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        if kind == "json":
            f.write("[\n")
        while written < size:
            rec = json.dumps({"id": f"r{n:07d}", "prompt": f"{n} {prompts[n % 97]}",
                              "kind": "harmful" if n % 2 else "benign", "expect": "refuse", "res": "I'm sorry"})
            line = (("," if n else "") + rec + "\n") if kind == "json" else rec + "\n"
            f.write(line)
            written += len(line)
            n += 1
        if kind == "json":
            f.write("]\n")
    return n


@pytest.fixture(scope="module")
def big_files(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    d = tmp_path_factory.mktemp("big")
    return {kind: (d / f"big.{kind}", write_big(d / f"big.{kind}", kind)) for kind in ("json", "jsonl")}


def peak_read(path: Path, module: str) -> tuple[int, float]:
    """(records, peak RSS growth in MiB) of one read in a fresh interpreter."""
    code = textwrap.dedent(f"""
        import json, resource
        from pathlib import Path
        from {module} import read_records
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows = read_records(Path({str(path)!r}))
        print(json.dumps([len(rows), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024]))
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=H.env())
    assert r.returncode == 0, r.stderr[-2000:]
    n, mib = json.loads(r.stdout.splitlines()[-1])
    return n, mib


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_streaming_reader_memory(big_files, kind: str) -> None:
    path, n = big_files[kind]
    file_mib = path.stat().st_size / 2**20
    rows, mib = peak_read(path, "pytest_trustllm.suite.readers")
    print(f"readers.read_records {kind}: {mib:.0f} MiB peak growth for a {file_mib:.0f} MiB file "
          f"({mib / file_mib:.1f}x)")
    assert rows == n
    assert mib < 2.5 * file_mib


def test_collection_reader_memory(big_files) -> None:
    path, n = big_files["jsonl"]
    file_mib = path.stat().st_size / 2**20
    rows, mib = peak_read(path, "pytest_trustllm.plugin.collect")  # the reader collection uses
    print(f"collection's read_records jsonl: {mib:.0f} MiB ({mib / file_mib:.1f}x)")
    assert rows == n
    assert mib < 2.5 * file_mib


def test_collect_100mb_file_bounded(big_files, tmp_path: Path) -> None:
    """``pytest --collect-only`` over a suite whose data is a 100 MB JSON list: it finishes (no hang),
    collects every record, and peaks at a bounded multiple of the file size."""
    path, n = big_files["json"]
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "big.json").symlink_to(path)
    (suites / "big.yaml").write_text(H.SUITE_TEMPLATE.format(id="rel/big", task="big", data="big.json",
                                                             chunk_size=1000, threshold=0.0))
    cmd = H.pytest_cmd("--collect-only", "-q", "suites", "--trust-model=replay")
    wrapper = ("import json, resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, "
               "text=True); print(r.returncode, r.stdout.strip().splitlines()[-1]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    r = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=tmp_path, env=H.env(), capture_output=True,
                       text=True, timeout=300)
    status_line, peak_kib = r.stdout.splitlines()[-2:]
    file_mib = path.stat().st_size / 2**20
    peak = int(peak_kib) / 1024
    print(f"collect-only over {file_mib:.0f} MiB ({n} records): peak RSS {peak:.0f} MiB ({peak / file_mib:.1f}x)")
    assert status_line.startswith("0 ") and f"{n} tests collected" in status_line, r.stdout + r.stderr
    assert peak < 6 * file_mib
