"""A real OpenAI-compatible server: ``transformers serve FOLDER`` on a free local port."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def transformers_cli() -> str | None:
    """The ``transformers`` command of this interpreter's environment, if installed."""
    here = Path(sys.executable).parent / "transformers"
    if here.is_file():
        return str(here)
    return shutil.which("transformers")


def serving_available() -> str | None:
    """None when ``transformers serve`` can run here, else the reason it cannot."""
    if transformers_cli() is None:
        return "the `transformers` command is not installed"
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return "transformers serve needs transformers[serving] (fastapi, uvicorn)"
    return None


@contextlib.contextmanager
def transformers_serve(folder: str | Path, *, ready_timeout_s: float = 120.0) -> Iterator[str]:
    """Start ``transformers serve`` on ``folder`` (pinned model, CPU), wait for /health, yield the
    base URL (``http://127.0.0.1:PORT/v1``); the model name to request is ``str(folder)``."""
    cli = transformers_cli()
    if cli is None:
        raise RuntimeError(serving_available())
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="transformers-serve-", suffix=".log", delete=False)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    proc = subprocess.Popen([cli, "serve", str(folder), "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"transformers serve exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"transformers serve not ready after {ready_timeout_s:.0f} s:\n{log.read()[-3000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        os.unlink(log.name)
