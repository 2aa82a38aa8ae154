"""An OpenAI-compatible chat-completions server that injects faults, for tests and benchmarks.

Pure stdlib (asyncio streams, HTTP/1.1 keep-alive), bound to 127.0.0.1 on a free port, run in a
background thread (``with FaultServer(...) as srv: srv.base_url``) or as a process::

    python -m tests.servers.openai_fault --latency 0.1 --rate 429=0.1 --rate reset=0.05

Faults (``FaultConfig.rates`` maps each to a probability per request, or ``plan`` decides):

    429        rate limited, with Retry-After (seconds, HTTP date) and/or retry-after-ms
    500, 503   server error with a JSON error body;  400: a non-retryable client error
    timeout    hang without answering (until the client gives up and closes, or ``hang_s``)
    reset      drop the connection with a TCP reset, no response
    malformed  200 with a body that is not JSON
    null       200 with ``message.content: null`` (a body without a completion)
    nochoices  200 with ``choices: []``
    empty      200 with ``content: ""`` and finish_reason stop (a valid, empty answer)

A normal answer is ``echo: <last user message>`` so callers can check each result belongs to its
request. The server counts attempts per prompt, outcomes, and the most requests in flight.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import email.utils
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

FAULTS = ("429", "500", "503", "400", "timeout", "reset", "malformed", "null", "nochoices", "empty")


@dataclass
class FaultConfig:
    latency_s: float = 0.0                    # added before every answer (faults included)
    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    max_faults_per_prompt: int | None = None  # after this many faults a prompt is answered normally
    retry_after: str | None = "1"             # Retry-After value sent with 429 (None: no header)
    retry_after_ms: str | None = None         # retry-after-ms value sent with 429
    retry_after_date_s: float | None = None   # send Retry-After as an HTTP date this far ahead
    hang_s: float = 30.0
    # plan(prompt, attempt) -> fault name or None; when set it replaces ``rates``
    plan: Callable[[str, int], str | None] | None = None
    reply: Callable[[dict], str] | None = None     # answer text for a request (default: echo)
    messages: dict[str, str] = field(default_factory=dict)  # error message per fault, to override
    # hold every request until this many are in flight at once (then never again; at most hold_s):
    # whether a client reaches its concurrency limit is then a count, not a race against the clock
    hold_until_in_flight: int | None = None
    hold_s: float = 30.0

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")


@dataclass
class ServerStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    attempts: collections.Counter = field(default_factory=collections.Counter)   # prompt -> attempts
    answered: collections.Counter = field(default_factory=collections.Counter)   # prompt -> complete answers
    outcomes: collections.Counter = field(default_factory=collections.Counter)   # fault or "ok" -> count
    log: list = field(default_factory=list)   # (monotonic time, prompt, outcome)

    def to_json(self) -> dict:
        return {"requests": self.requests, "max_in_flight": self.max_in_flight,
                "outcomes": dict(self.outcomes), "prompts": len(self.attempts)}


class FaultServer:
    def __init__(self, config: FaultConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or FaultConfig()
        self.host, self.port = host, port
        self.stats = ServerStats()
        self._rng = random.Random(self.config.seed)
        self._faults_given: collections.Counter = collections.Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FaultServer":
        self._thread = threading.Thread(target=self._run, name="fault-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start within 10 s")
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # surface start-up failures to start()
            self._error = e
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, self.host, self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()

    # -- HTTP --------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                keep = await self._handle(method, path, body, reader, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            if not writer.is_closing():
                writer.close()

    def _send(self, writer, status: int, body: bytes | str, extra: dict | None = None,
              ctype: str = "application/json") -> None:
        if isinstance(body, str):
            body = body.encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
                  500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "X")
        head = [f"HTTP/1.1 {status} {reason}", f"content-type: {ctype}", f"content-length: {len(body)}",
                "connection: keep-alive"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    async def _handle(self, method, path, body, reader, writer) -> bool:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            self._send(writer, 200, json.dumps({"object": "list", "data": [
                {"id": "fault-model", "object": "model", "owned_by": "local"}]}))
            return True
        if method == "GET" and path in ("/health", "/stats"):
            self._send(writer, 200, json.dumps(self.stats.to_json() if path == "/stats" else {"status": "ok"}))
            return True
        if not (method == "POST" and path.rstrip("/").endswith("/chat/completions")):
            self._send(writer, 404, json.dumps({"error": {"message": f"no route {method} {path}"}}))
            return True
        st = self.stats
        st.requests += 1
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            req = json.loads(body)
            msgs = req.get("messages") or []
            prompt = msgs[-1].get("content", "") if msgs else ""
            attempt = st.attempts[prompt]
            st.attempts[prompt] += 1
            fault = self._choose(prompt, attempt)
            st.outcomes[fault or "ok"] += 1
            st.log.append((time.monotonic(), prompt, fault or "ok"))
            await self._hold()
            if self.config.latency_s:
                await asyncio.sleep(self.config.latency_s)
            return await self._answer(fault, req, prompt, reader, writer)
        finally:
            st.in_flight -= 1

    async def _hold(self) -> None:
        want, deadline = self.config.hold_until_in_flight, time.monotonic() + self.config.hold_s
        while want and self.stats.max_in_flight < want and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def _choose(self, prompt: str, attempt: int) -> str | None:
        cfg = self.config
        if cfg.plan is not None:
            return cfg.plan(prompt, attempt)
        if cfg.max_faults_per_prompt is not None and self._faults_given[prompt] >= cfg.max_faults_per_prompt:
            return None
        r = self._rng.random()
        acc = 0.0
        for name in FAULTS:
            acc += cfg.rates.get(name, 0.0)
            if r < acc:
                self._faults_given[prompt] += 1
                return name
        return None

    async def _answer(self, fault, req, prompt, reader, writer) -> bool:
        cfg = self.config
        if fault == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0: close() sends RST, the client sees a reset connection
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if fault == "timeout":
            try:  # hang until the client gives up (EOF) or hang_s passes; never answer
                await asyncio.wait_for(reader.read(1), cfg.hang_s)
            except asyncio.TimeoutError:
                pass
            writer.transport.abort()
            return False
        if fault == "429":
            extra = {}
            if cfg.retry_after_date_s is not None:
                extra["retry-after"] = email.utils.formatdate(time.time() + cfg.retry_after_date_s, usegmt=True)
            elif cfg.retry_after is not None:
                extra["retry-after"] = cfg.retry_after
            if cfg.retry_after_ms is not None:
                extra["retry-after-ms"] = cfg.retry_after_ms
            self._send(writer, 429, _error(cfg.messages.get("429") or "Rate limit reached for requests",
                                           "rate_limit_exceeded"), extra)
            return True
        if fault in ("500", "503", "400"):
            msg = cfg.messages.get(fault) or {
                "500": "The server had an error while processing your request",
                "503": "The engine is currently overloaded, please try again later",
                "400": "Invalid request: this prompt is rejected"}[fault]
            self._send(writer, int(fault), _error(msg, "server_error" if fault != "400" else "invalid_request_error"))
            return True
        if fault == "malformed":
            self._send(writer, 200, '{"id": "x", "choices": [{"message": {"content": "trunc')
            return True
        text = "" if fault == "empty" else (cfg.reply(req) if cfg.reply else f"echo: {prompt}")
        choices = [] if fault == "nochoices" else [{
            "index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": None if fault == "null" else text}}]
        n_prompt = sum(len(str(m.get("content", "")).split()) for m in req.get("messages") or [])
        n_out = len(text.split())
        if fault is None or fault == "empty":
            self.stats.answered[prompt] += 1
        self._send(writer, 200, json.dumps({
            "id": f"chatcmpl-{self.stats.requests}", "object": "chat.completion", "created": int(time.time()),
            "model": req.get("model", "fault-model"), "choices": choices,
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out}}))
        return True


def _error(message: str, kind: str) -> str:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--rate", action="append", default=[], metavar="FAULT=P")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retry-after", default="1")
    args = ap.parse_args(argv)
    rates = {k: float(v) for k, v in (r.split("=", 1) for r in args.rate)}
    srv = FaultServer(FaultConfig(latency_s=args.latency, rates=rates, seed=args.seed,
                                  retry_after=args.retry_after), port=args.port).start()
    print(f"READY {srv.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
