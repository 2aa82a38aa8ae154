"""Local HTTP servers for the judge tests: a Perspective API (comments:analyze) and an OpenAI
``/v1/embeddings`` endpoint. Stdlib only, bound to 127.0.0.1 on a free port, run in a thread::

    with PerspectiveServer(script=[(429, {"Retry-After": "2"}, None)]) as srv:
        client = PerspectiveToxicity("test-key", base_url=srv.url)

Each request is answered by the next entry of ``script`` (status, headers, body or None), then by
the default: 200 with a TOXICITY value computed from the text (share of words in ``BAD_WORDS``).
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

BAD_WORDS = {"idiot", "stupid", "hate", "kill", "moron"}


def toy_toxicity(text: str) -> float:
    words = [w.strip(".,!?").lower() for w in text.split()]
    return round(sum(w in BAD_WORDS for w in words) / max(len(words), 1), 4)


def perspective_body(value: float) -> dict[str, Any]:
    # spanScores and summaryScore deliberately differ: the client must read spanScores[0]
    return {"attributeScores": {"TOXICITY": {
        "spanScores": [{"begin": 0, "end": 10, "score": {"value": value, "type": "PROBABILITY"}}],
        "summaryScore": {"value": min(1.0, value + 0.5), "type": "PROBABILITY"}}},
        "languages": ["en"]}


class _Server:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    body = None
                status, headers, payload = outer.answer(self.path, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def answer(self, path: str, body: Any) -> tuple[int, dict[str, str], Any]:  # pragma: no cover
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class PerspectiveServer(_Server):
    def __init__(self, script: list[tuple[int, dict[str, str], Any]] | None = None) -> None:
        super().__init__()
        self.script = list(script or [])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, path, body):
        parsed = urlparse(path)
        with self.lock:
            self.requests.append({"t": time.monotonic(), "path": parsed.path, "query": parse_qs(parsed.query),
                                  "body": body})
            step = self.script.pop(0) if self.script else None
        if parsed.path != "/v1alpha1/comments:analyze":
            return 404, {}, {"error": {"code": 404, "message": "not found"}}
        if step is not None:
            status, headers, payload = step
            if payload is None:
                payload = {"error": {"code": status, "message": "scripted", "status": "SCRIPTED"}}
            return status, headers, payload
        text = (body or {}).get("comment", {}).get("text", "")
        return 200, {}, perspective_body(toy_toxicity(text))


def toy_embedding(text: str, dim: int = 8) -> list[float]:
    h = hashlib.sha256(text.encode()).digest()
    v = [b - 127.5 for b in h[:dim]]
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


class EmbeddingsServer(_Server):
    """OpenAI ``POST /v1/embeddings``; inputs in ``fail_inputs`` make the whole request a 400."""

    def __init__(self, fail_inputs: set[str] | None = None) -> None:
        super().__init__()
        self.fail_inputs = set(fail_inputs or ())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, path, body):
        with self.lock:
            self.requests.append({"path": path, "body": body})
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not inputs or any(t in self.fail_inputs for t in inputs):
            return 400, {}, {"error": {"message": "invalid input", "type": "invalid_request_error"}}
        data = [{"object": "embedding", "index": i, "embedding": toy_embedding(t)} for i, t in enumerate(inputs)]
        return 200, {}, {"object": "list", "data": data, "model": body.get("model"),
                         "usage": {"prompt_tokens": sum(len(t.split()) for t in inputs),
                                   "total_tokens": sum(len(t.split()) for t in inputs)}}
