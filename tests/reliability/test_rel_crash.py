"""Crashes: a run SIGKILLed mid-generation, and an xdist worker SIGKILLed mid-run. The rerun resumes
from the response cache, sends no request whose response was stored, and ends with the results of
an uninterrupted run. The cache is never left corrupt: ``python -m pytest_trustllm.generation.cachecheck``
says so after every kill (and says otherwise for a file that is corrupt).
"""
from __future__ import annotations

import collections
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import rel_helpers as H
from tests.servers.openai_fault import FaultConfig, FaultServer

pytestmark = pytest.mark.slow

N = 300
ENV = {"OPENAI_API_KEY": "sk-local-placeholder"}


def reply(req: dict) -> str:
    return H.model_reply(req["messages"][-1]["content"])


def stored_prompts(cache: Path) -> set[str]:
    """The prompts whose responses the cache holds (each reply names its prompt)."""
    return {t.split(": ", 1)[1] for t in H.cache_texts(cache)}


def cache_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest_trustllm.generation.cachecheck", str(path)], capture_output=True,
                          text=True, env=H.env(), timeout=60)


def assert_cache_sound(path: Path) -> None:
    r = cache_check(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "integrity: ok" in r.stdout


def _args(server: FaultServer, cache: Path, report: str, *extra: str) -> list[str]:
    return ["suites", "--trust-model=openai:m", f"--trust-base-url={server.base_url}", f"--trust-cache={cache}",
            f"--trust-report={report}", "--trust-concurrency=4", "--trust-retries=1", "--trust-timeout=10",
            *extra]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The results of an uninterrupted run of the same suite (fresh cache)."""
    folder = tmp_path_factory.mktemp("reference")
    H.write_suite(folder, H.records(N), chunk_size=50)
    with FaultServer(FaultConfig(reply=reply)) as srv:
        r = H.run_pytest(folder, *_args(srv, folder / "cache.sqlite", "results.json"), extra_env=ENV)
    assert r.returncode == 0, r.stdout[-2000:]
    return H.load_json(folder / "results.json")


def test_sigkill_mid_generation_then_resume(tmp_path: Path, reference: dict) -> None:
    H.write_suite(tmp_path, H.records(N), chunk_size=50)
    cache = tmp_path / "cache.sqlite"
    # latency keeps requests in flight when the kill lands
    with FaultServer(FaultConfig(reply=reply, latency_s=0.02)) as srv:
        proc = H.start_pytest(tmp_path, *_args(srv, cache, "killed.json"), extra_env=ENV)
        try:
            H.wait_for(lambda: H.cache_rows(cache) >= 120, 120, "120 stored responses", proc)
        finally:
            H.kill_group(proc)
        assert proc.returncode == -signal.SIGKILL
        assert_cache_sound(cache)
        stored = stored_prompts(cache)
        assert 120 <= len(stored) < N  # some but not all
        before = collections.Counter(srv.stats.attempts)

        rerun = H.run_pytest(tmp_path, *_args(srv, cache, "results.json"), extra_env=ENV)
        asked = collections.Counter(srv.stats.attempts) - before

    assert rerun.returncode == 0, rerun.stdout[-2000:]
    assert not stored & set(asked), "the rerun asked again for responses the cache held"
    assert set(asked) == {r["prompt"] for r in H.records(N)} - stored  # and for everything else, once
    assert max(asked.values()) == 1
    results = H.load_json(tmp_path / "results.json")
    assert results["generation"]["cached"] == len(stored)
    assert H.comparable(results) == H.comparable(reference)
    assert_cache_sound(cache)


def test_xdist_worker_killed_mid_run_then_resume(tmp_path: Path, reference: dict) -> None:
    """A worker SIGKILLed while generating: xdist replaces it and reports the crash (the run
    fails), the replacement resumes the batch from the cache; a rerun generates nothing."""
    H.write_suite(tmp_path, H.records(N), chunk_size=50)
    cache = tmp_path / "cache.sqlite"
    with FaultServer(FaultConfig(reply=reply, latency_s=0.02)) as srv:
        proc = H.start_pytest(tmp_path, *_args(srv, cache, "crashed.json", "-n", "2"), extra_env=ENV)
        try:
            H.wait_for(lambda: len(H.child_pids(proc.pid)) >= 2, 60, "two xdist workers", proc)
            H.wait_for(lambda: H.cache_rows(cache) >= 60, 120, "60 stored responses", proc)
            victim = H.child_pids(proc.pid)[0]
            os.kill(victim, signal.SIGKILL)
            proc.wait(180)
        finally:
            H.kill_group(proc)
        log = (tmp_path / "session.log").read_text(errors="replace")
        during = collections.Counter(srv.stats.answered)
        assert_cache_sound(cache)

        # the crash fails the run and is named; nothing is lost or counted twice
        assert proc.returncode == 1, log[-3000:]
        assert "crashed while running" in log
        crashed = H.load_json(tmp_path / "crashed.json")
        assert crashed["exit"]["status"] == 1
        assert len(H.records_by_id(crashed)) == N
        # the replacement worker resumed from the cache: a prompt was answered twice only if its
        # response was in flight when the worker died (at most the in-flight window of 4)
        assert sum(n - 1 for n in during.values() if n > 1) <= 4

        before = collections.Counter(srv.stats.attempts)
        rerun = H.run_pytest(tmp_path, *_args(srv, cache, "results.json", "-n", "2"), extra_env=ENV)
        asked = collections.Counter(srv.stats.attempts) - before

    assert rerun.returncode == 0, rerun.stdout[-2000:]
    assert not asked, f"the rerun generated {sum(asked.values())} responses the cache held"
    results = H.load_json(tmp_path / "results.json")
    assert results["generation"]["cached"] == N and results["generation"]["generated"] == 0
    assert H.comparable(results) == H.comparable(reference)
    assert_cache_sound(cache)


def test_cache_check_reports_corruption(tmp_path: Path) -> None:
    """The check command can fail: a cache with garbage written over its pages is reported."""
    cache = tmp_path / "cache.sqlite"
    from pytest_trustllm.generation.cache import ResponseCache, request_key
    from pytest_trustllm.types import GenerationRequest, GenerationResult, Message

    with ResponseCache(cache) as c:
        for i in range(400):
            req = GenerationRequest((Message("user", f"q{i}" * 50),))
            c.put(request_key({"m": 1}, req), GenerationResult("answer " * 40))
    db = sqlite3.connect(cache)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    assert_cache_sound(cache)
    bad = tmp_path / "bad.sqlite"
    shutil.copy(cache, bad)
    with open(bad, "r+b") as f:
        f.seek(4096 * 3)
        f.write(b"\xa5" * 4096 * 4)
    r = cache_check(bad)
    assert r.returncode == 1, r.stdout
    assert "PROBLEM" in r.stdout
    not_sqlite = tmp_path / "text.sqlite"
    not_sqlite.write_text("hello")
    assert cache_check(not_sqlite).returncode == 1
    assert cache_check(tmp_path / "missing.sqlite").returncode == 1


def test_documented_cache_check_command(tmp_path: Path) -> None:
    from pytest_trustllm.generation.cache import ResponseCache

    cache = tmp_path / "cache.sqlite"
    ResponseCache(cache).close()
    r = subprocess.run([sys.executable, "-m", "pytest_trustllm", "cache-check", str(cache)], capture_output=True,
                       text=True, env=H.env(), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "integrity: ok" in r.stdout
