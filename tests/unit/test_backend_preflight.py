"""Configuration checks made before any item runs (pytest_trustllm.generation.backends.preflight): each problem is one
``BackendError`` with the message a user needs; the plugin turns it into a usage error (exit 4)."""
from __future__ import annotations

import http.server
import importlib.util
import threading

import pytest

from pytest_trustllm.generation.backends import preflight as P
from pytest_trustllm.generation.backends.base import BackendError


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda n: None if n == "torch" else real(n))
    with pytest.raises(BackendError) as e:
        P.preflight("hf:some/model", {})
    assert str(e.value) == ("hf:some/model needs torch, which is not installed: "
                            "pip install 'pytest-trustllm[local]'")


def test_missing_model_folder(tmp_path) -> None:
    with pytest.raises(BackendError, match=r"^no model folder at /no/such/folder$"):
        P.preflight("hf:/no/such/folder", {})


def test_openai_without_key_and_with_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendError, match="set the API key in the environment variable OPENAI_API_KEY"):
        P.preflight("gpt-4", {})

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - any HTTP answer means the server is there
            self.send_response(404)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        P.preflight("openai:local", {"base_url": f"http://127.0.0.1:{server.server_port}/v1"})  # no key needed
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(BackendError, match=r"server at http://127.0.0.1:\d+/v1 does not answer"):
        P.preflight("openai:local", {"base_url": f"http://127.0.0.1:{server.server_port}/v1"})
