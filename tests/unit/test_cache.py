"""The response cache (several real processes, kill -9, refresh, corruption) and generate_all."""
import io
import multiprocessing as mp
import os
import signal
import sqlite3
import time

import pytest

from pytest_trustllm.generation.cache import CacheError, ResponseCache, check_cache, model_id, request_key
from pytest_trustllm.generation.generate import GenerationStats, Progress, generate_all
from pytest_trustllm.types import GenerationRequest, GenerationResult, Message

IDENT = {"backend": "fake", "model": "m1"}


def rq(text, temperature=0.0, seed=0, n=32):
    return GenerationRequest((Message("user", text),), temperature=temperature, max_new_tokens=n, seed=seed)


# -- keys -------------------------------------------------------------------------------------
def test_seed_is_in_the_key_only_when_sampling():
    assert request_key(IDENT, rq("a", seed=1)) == request_key(IDENT, rq("a", seed=2))
    assert request_key(IDENT, rq("a", 0.7, seed=1)) != request_key(IDENT, rq("a", 0.7, seed=2))
    assert request_key(IDENT, rq("a", 0.7, seed=1)) == request_key(IDENT, rq("a", 0.7, seed=1))


def test_key_covers_model_params_and_messages():
    base = request_key(IDENT, rq("a"))
    assert request_key({**IDENT, "model": "m2"}, rq("a")) != base
    assert request_key(IDENT, rq("a", n=64)) != base
    assert request_key(IDENT, rq("a", 0.5)) != base
    assert request_key(IDENT, rq("b")) != base
    sys_req = GenerationRequest((Message("system", "s"), Message("user", "a")), max_new_tokens=32)
    assert request_key(IDENT, sys_req) != base
    # the record and the item key are not part of the request's meaning
    assert request_key(IDENT, GenerationRequest(rq("a").messages, max_new_tokens=32, record={"x": 1}, key="k")) == base


# -- basic behaviour --------------------------------------------------------------------------
def test_roundtrip_only_successes_are_stored(tmp_path):
    with ResponseCache(tmp_path / "c.sqlite") as c:
        c.put("k1", GenerationResult("hello", None, 3, 4))
        c.put("k2", GenerationResult(None, "HTTP 500"))
        c.put("k3", GenerationResult("", None))               # an empty answer is an answer
        got = c.get_many(["k1", "k2", "k3", "nope"])
    assert set(got) == {"k1", "k3"}
    assert got["k1"] == GenerationResult("hello", None, 3, 4, cached=True)
    assert got["k3"].text == "" and got["k3"].ok


def test_refresh_ignores_and_overwrites(tmp_path):
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as c:
        c.put("k", GenerationResult("old"))
    with ResponseCache(path, refresh=True) as c:
        assert c.get_many(["k"]) == {}
        c.put("k", GenerationResult("new"))
    with ResponseCache(path) as c:
        assert c.get("k").text == "new" and c.count() == 1


def test_readonly_never_writes(tmp_path):
    path = tmp_path / "c.sqlite"
    with pytest.raises(CacheError, match="does not exist"):
        ResponseCache(path, readonly=True)
    with ResponseCache(path) as c:
        c.put("k", GenerationResult("v"))
    with ResponseCache(path, readonly=True) as c:
        c.put("k2", GenerationResult("w"))
        assert c.get("k").text == "v" and c.count() == 1


def test_not_an_sqlite_file_is_a_clear_error(tmp_path):
    path = tmp_path / "responses.sqlite"
    path.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(CacheError) as e:
        ResponseCache(path)
    msg = str(e.value)
    assert str(path) in msg and "not an SQLite database" in msg and "delete" in msg
    report = check_cache(path)
    assert not report.ok and "not an SQLite database" in report.format()


def test_corrupted_pages_are_reported(tmp_path):
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as c:
        c.put_many([(f"{i:064x}", GenerationResult("x" * 300)) for i in range(2000)])
        c.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with open(path, "r+b") as f:                               # scribble over pages past the header
        for off in range(4096, size - 4096, 8192):
            f.seek(off)
            f.write(os.urandom(512))
    report = check_cache(path)
    assert not report.ok and report.problems
    try:  # reading may or may not touch a bad page; if it does, the error must be a CacheError
        with ResponseCache(path) as c:
            c.get_many([f"{i:064x}" for i in range(2000)])
            c.count()
    except CacheError as e:
        assert "unusable" in str(e) and str(path) in str(e)


def test_check_cache_reports_rows_per_model(tmp_path):
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as c:
        m1, m2 = c.register_model(IDENT), c.register_model({"backend": "fake", "model": "m2"})
        assert m1 == model_id(IDENT) and m1 != m2
        c.put_many([(f"{i:064x}", GenerationResult("a")) for i in range(3)], model=m1)
        c.put(f"{9:064x}", GenerationResult("b"), model=m2)
    r = check_cache(path)
    assert r.ok and r.rows == 4 and r.integrity == "ok" and r.table_version == 2
    assert sorted(r.models.values()) == [1, 3] and any('"m1"' in k for k in r.models)
    assert "OK" in r.format() and r.to_json()["rows"] == 4
    assert not check_cache(tmp_path / "missing.sqlite").ok


def test_old_layout_is_upgraded_in_place(tmp_path):
    path = tmp_path / "c.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER, "
               "completion_tokens INTEGER, created REAL)")
    db.execute("INSERT INTO responses VALUES (?, 'kept', 1, 2, 0)", ("a" * 64,))
    db.commit()
    db.close()
    with ResponseCache(path) as c:
        assert c.get("a" * 64).text == "kept"
        c.put("b" * 64, GenerationResult("new"), model="m")
    assert check_cache(path).ok


# -- several processes ------------------------------------------------------------------------
def _writer(path, worker, n, start, errors):
    try:
        start.wait()
        c = ResponseCache(path)
        for i in range(n):
            # keys overlap between workers; the same key always gets the same response
            k = f"{(i * (worker + 1)) % n:064x}"
            c.put(k, GenerationResult(f"response {int(k, 16)}", None, 1, 1))
            if i % 50 == 0:
                c.get_many([k])
        c.close()
    except BaseException as e:  # reported to the parent: a failure must fail the test
        errors.put(f"worker {worker}: {type(e).__name__}: {e}")
        raise


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_writers_from_several_processes(tmp_path, workers):
    ctx = mp.get_context("spawn")
    path, n = str(tmp_path / "shared.sqlite"), 300
    start, errors = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, w, n, start, errors)) for w in range(workers)]
    for p in procs:
        p.start()
    start.set()                                               # all open a new file at once
    for p in procs:
        p.join(120)
    assert errors.empty(), errors.get()
    assert [p.exitcode for p in procs] == [0] * workers
    with ResponseCache(path) as c:
        assert c.count() == n and c.check() == "ok"
        got = c.get_many([f"{i:064x}" for i in range(n)])
    assert all(got[f"{i:064x}"].text == f"response {i}" for i in range(n))


def _endless_writer(path, batch):
    c = ResponseCache(path)
    i = 0
    while True:
        if batch:
            c.put_many([(f"{i + j:064x}", GenerationResult("v" * 200)) for j in range(batch)])
            i += batch
        else:
            c.put(f"{i:064x}", GenerationResult("v" * 200))
            i += 1


@pytest.mark.parametrize("batch", [0, 100])
def test_kill_9_mid_write_leaves_a_readable_cache(tmp_path, batch):
    ctx = mp.get_context("spawn")
    path = str(tmp_path / "c.sqlite")
    p = ctx.Process(target=_endless_writer, args=(path, batch))
    p.start()
    deadline = time.monotonic() + 60
    seen = 0
    while seen < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            with ResponseCache(path, readonly=True) as c:
                seen = c.count()
        except (CacheError, sqlite3.Error):
            pass
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    report = check_cache(path)
    assert report.ok, report.format()
    assert report.rows >= seen >= 300
    if batch:
        assert report.rows % batch == 0                       # a batch is stored whole or not at all
    with ResponseCache(path) as c:                            # and the next run carries on writing
        c.put("f" * 64, GenerationResult("after"))
        assert c.get("f" * 64).text == "after"


# -- generate_all -----------------------------------------------------------------------------
class FakeBackend:
    name = "fake"
    cacheable = True

    def __init__(self, cache=None, fail=()):
        self.identity = IDENT
        self.calls = []
        self.cache = cache
        self.fail = set(fail)
        self.stored_during = []

    def generate(self, requests, on_result=None):
        self.calls.append([r.messages[-1].content for r in requests])
        out = []
        for i, r in enumerate(requests):
            text = r.messages[-1].content
            res = GenerationResult(None, f"boom {text}") if text in self.fail else GenerationResult(text.upper(), None, 1, 2)
            out.append(res)
            if on_result:
                on_result(i, res)
                if self.cache is not None:
                    self.stored_during.append(self.cache.count())
        return out

    def close(self):
        pass


def test_generate_all_order_dedupe_cache_and_stats(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    b = FakeBackend(cache, fail={"c"})
    reqs = [rq(x) for x in ["a", "b", "a", "c", "d"]]
    s = GenerationStats()
    out = generate_all(b, reqs, cache, s)
    assert [r.text for r in out] == ["A", "B", "A", None, "D"]
    assert b.calls == [["a", "b", "c", "d"]]                   # the duplicate is generated once
    assert b.stored_during == [1, 2, 2, 3]                     # each stored as soon as it exists
    assert (s.generated, s.cached, s.errors, s.completion_tokens) == (3, 1, 1, 6)
    b2 = FakeBackend()
    s2 = GenerationStats()
    again = generate_all(b2, reqs, cache, s2)
    assert b2.calls == [["c"]]                                 # only the error is retried
    assert [r.text for r in again] == ["A", "B", "A", "C", "D"]
    assert (s2.generated, s2.cached, s2.errors) == (1, 4, 0)
    assert check_cache(cache.path).models == {__import__("json").dumps(IDENT, sort_keys=True): 4}


def test_generate_all_without_a_cache_or_with_replay(tmp_path):
    b = FakeBackend()
    assert [r.text for r in generate_all(b, [rq("x"), rq("x")])] == ["X", "X"]
    assert b.calls == [["x"]]
    b.cacheable = False
    cache = ResponseCache(tmp_path / "c.sqlite")
    generate_all(b, [rq("y")], cache)
    assert cache.count() == 0


def test_generate_all_rejects_a_backend_that_loses_results():
    class Lossy(FakeBackend):
        def generate(self, requests, on_result=None):
            return super().generate(requests[:-1])
    with pytest.raises(RuntimeError, match="returned 1 results for 2 requests"):
        generate_all(Lossy(), [rq("a"), rq("b")])


# -- progress ---------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_progress_is_rate_limited_with_rate_and_eta(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    clock, out = Clock(), io.StringIO()
    p = Progress(100, stream=out, every_s=2.0, clock=clock)
    p.add_cached(20)                                           # cached: done, but not in the rate
    for _ in range(10):
        clock.t += 0.5
        p(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2                                     # at 2 s and 4 s, not on every item
    assert lines[-1] == "trustllm generation: 28/100 (28%), 2.0 items/s, 20 cached, ETA 36s"
    for _ in range(72):
        p(1)
    assert out.getvalue().splitlines()[-1].startswith("trustllm generation: 100/100 (100%)")
    p(0)
    assert len(out.getvalue().splitlines()) == 3               # the final line once


def test_progress_eta_starts_from_the_measured_warm_up(monkeypatch):
    """A 60 s model load before the first item must not make the ETA start at hours and fall."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    clock, out = Clock(), io.StringIO()
    p = Progress(100, stream=out, every_s=2.0, clock=clock)
    clock.t += 60.0
    p(1)                                                       # the warm-up: load + first item
    assert out.getvalue().splitlines() == ["trustllm generation: 1/100 (1%), warming up"]
    for _ in range(9):
        clock.t += 0.5
        p(1)
    # measured since the warm-up: 9 items in 4.5 s, not 10 in 64.5 s (which said ETA 10m24s)
    assert out.getvalue().splitlines()[-1] == "trustllm generation: 9/100 (9%), 2.0 items/s, ETA 46s"


def test_progress_quiet_for_short_runs_and_labels_workers(monkeypatch):
    clock, out = Clock(), io.StringIO()
    p = Progress(5, stream=out, clock=clock)
    for _ in range(5):
        p(1)
    assert out.getvalue() == ""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    p = Progress(5, stream=out, every_s=0, clock=clock)
    p(1)
    assert out.getvalue().startswith("trustllm [gw3] generation: 1/5")


def test_progress_as_generate_all_callback(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    generate_all(FakeBackend(), [rq("a")], cache)
    p = Progress(3, stream=io.StringIO())
    generate_all(FakeBackend(), [rq("a"), rq("b"), rq("b")], cache, progress=p)
    assert (p.done, p.cached) == (3, 1)
