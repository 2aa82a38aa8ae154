"""Configuration checks before any item runs: a problem that would fail every item (no API key, a
server that does not answer, a missing extra, no model file) stops the run once, as a usage error.

Cheap checks only (no model is loaded here): the controller runs them before xdist workers start.
A run without workers also builds its backends before the first item (``RunState.load_backends in plugin/session.py``),
which catches a model that cannot load.
"""
from __future__ import annotations

import importlib.util
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from pytest_trustllm.generation.backends.base import BackendError, parse_model_spec

PROBE_TIMEOUT_S = 5.0


def preflight(spec: str, options: Mapping[str, Any]) -> None:
    """Raise ``BackendError`` with the one message a user needs when ``spec`` cannot work."""
    scheme, arg = parse_model_spec(spec)
    if scheme == "openai":
        from pytest_trustllm.generation.backends.openai_api import make_openai, public_url

        backend = make_openai(arg, options)  # checks the extra, the model name and the API key
        if not backend.official:
            probe_server(backend.base_url, public_url(backend.base_url), options.get("timeout_s"))
    elif scheme in ("hf", "smollm2"):
        _require_modules(("torch", "transformers"), "pip install 'pytest-trustllm[local]'", spec)
        if scheme == "smollm2":
            from pytest_trustllm.generation.backends.model_files import gguf_path

            gguf_path()
        elif _looks_like_path(arg) and not Path(arg).expanduser().exists():
            raise BackendError(f"no model folder at {arg}")
    elif scheme == "replay" and arg and not Path(arg).expanduser().exists():
        raise BackendError(f"{arg} does not exist (a folder of recorded TrustLLM "
                           "generations, or a responses file)")


def probe_server(base_url: str, shown: str, timeout_s: float | None = None) -> None:
    """Any HTTP answer (even 404) means the server is there; no answer at all is a usage error."""
    url = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=min(float(timeout_s or PROBE_TIMEOUT_S), PROBE_TIMEOUT_S)):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise BackendError(f"the OpenAI-compatible server at {shown} does not answer ({reason}); start it or fix "
                           "--trust-base-url") from None


def _require_modules(names: tuple[str, ...], install: str, spec: str) -> None:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        raise BackendError(f"{spec} needs {', '.join(missing)}, which is not installed: {install}")


def _looks_like_path(arg: str) -> bool:
    return arg.startswith(("/", ".", "~")) or Path(arg).expanduser().exists()
