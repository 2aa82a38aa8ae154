"""OpenAI and OpenAI-compatible chat servers (vLLM, TGI, llama.cpp, ``transformers serve``...).

The official ``openai`` AsyncOpenAI client with its own retries off (``max_retries=0``): this
module retries, so the rules are visible and tested. ``concurrency`` requests in flight at most;
each attempt has ``timeout_s``; 429, 408/409, 5xx, timeouts, dropped connections and malformed
bodies are retried with exponential backoff and jitter, honouring Retry-After. A request that
still fails becomes ``GenerationResult(error=...)`` naming the server's status and message:
never dropped, never an invented answer.

An empty ``content`` with a normal finish is a valid (empty) answer; a missing completion (no
choices, null content) is an error once retries are spent. API keys come from the environment
only and are scrubbed from every message this module writes.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
import urllib.parse
from collections import Counter
from typing import Any, Mapping, Sequence

from pytest_trustllm.types import GenerationRequest, GenerationResult
from pytest_trustllm.generation.backends.base import BackendError, OnResult
from pytest_trustllm.generation.backends.retry import RetryPolicy, is_retryable_status, parse_retry_after, scrub

OPENAI_URL = "https://api.openai.com/v1"
API_EXTRA = "pip install 'pytest-trustllm[openai]'"
DEFAULTS = {"concurrency": 16, "timeout_s": 120.0, "max_retries": 6, "api_key_env": "OPENAI_API_KEY"}
# finish reasons that mean the provider withheld the answer on purpose: retrying will not help
PERMANENT_FINISH = ("content_filter",)


class _Retry(Exception):
    """An attempt that failed in a way worth retrying; ``cause`` is the user-facing reason."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause, self.retry_after = cause, retry_after


def public_url(url: str) -> str:
    """The URL without credentials or query (it goes into identities and messages)."""
    p = urllib.parse.urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urllib.parse.urlunsplit((p.scheme, host, p.path.rstrip("/"), "", ""))


class OpenAIBackend:
    cacheable = True

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int | None = None, timeout_s: float | None = None, max_retries: int | None = None,
                 max_new_tokens_cap: int | None = None, policy: RetryPolicy | None = None,
                 rand=random.random) -> None:
        if not model:
            raise BackendError("openai: needs a model name: --trust-model=openai:NAME (with --trust-base-url "
                               "for a compatible server) or a bare OpenAI name such as gpt-4o")
        try:
            import openai  # noqa: F401
        except ImportError:
            raise BackendError(f"the OpenAI backend needs the openai package: {API_EXTRA}") from None
        self.model = model
        self.official = not base_url or urllib.parse.urlsplit(base_url).hostname == "api.openai.com"
        self.base_url = (base_url or OPENAI_URL).rstrip("/")
        self.api_key_env = api_key_env or DEFAULTS["api_key_env"]
        key = os.environ.get(self.api_key_env)
        if not key and self.official:
            raise BackendError(f"{model} is an OpenAI model: set the API key in the environment variable "
                               f"{self.api_key_env} (or name another with --trust-api-key-env), or point "
                               "--trust-base-url at an OpenAI-compatible server")
        self.concurrency = int(concurrency or DEFAULTS["concurrency"])
        if self.concurrency < 1:
            raise BackendError(f"concurrency must be at least 1, got {concurrency}")
        self.timeout_s = float(timeout_s or DEFAULTS["timeout_s"])
        retries = DEFAULTS["max_retries"] if max_retries is None else int(max_retries)
        self.policy = policy or RetryPolicy(max_retries=retries)
        self.max_new_tokens_cap = max_new_tokens_cap
        self.rand = rand
        self.name = f"openai:{model}"
        self.identity = {"backend": "openai", "model": model, "base_url": public_url(self.base_url),
                         "max_new_tokens_cap": max_new_tokens_cap}
        self.stats: dict[str, Any] = {"requests": 0, "attempts": 0, "retries": 0, "errors": 0,
                                      "retry_causes": Counter(), "served_models": set()}

    def __repr__(self) -> str:  # never the key
        return f"OpenAIBackend({self.model!r}, base_url={public_url(self.base_url)!r}, concurrency={self.concurrency})"

    def _secrets(self) -> list[str]:
        key = os.environ.get(self.api_key_env)
        return [key] if key else []

    # -- synchronous entry point --------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest],
                 on_result: OnResult | None = None) -> list[GenerationResult]:
        if not requests:
            return []
        coro_fn = lambda: self._generate(list(requests), on_result)  # noqa: E731
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro_fn())
        # Called from inside a running loop (an async test): use a fresh loop on another thread.
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            return ex.submit(lambda: asyncio.run(coro_fn())).result()

    async def _generate(self, requests: list[GenerationRequest], on_result: OnResult | None) -> list[GenerationResult]:
        import openai

        # Local servers take any key: the placeholder is no secret.
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=os.environ.get(self.api_key_env) or "EMPTY",
                                    max_retries=0, timeout=self.timeout_s)
        sem = asyncio.Semaphore(self.concurrency)
        out: list[GenerationResult | None] = [None] * len(requests)

        async def one(i: int, req: GenerationRequest) -> None:
            async with sem:
                res = await self._request(client, req)
            out[i] = res
            if on_result is not None:
                on_result(i, res)

        try:
            await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
        finally:
            await client.close()
        return [r for r in out if r is not None]

    # -- one request, with retries ------------------------------------------------------------
    def _params(self, req: GenerationRequest) -> dict[str, Any]:
        n = int(req.max_new_tokens)
        if self.max_new_tokens_cap:
            n = min(n, int(self.max_new_tokens_cap))
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in req.messages],
            "temperature": req.temperature,
            # OpenAI's own API wants max_completion_tokens (required by its reasoning models);
            # compatible servers have long accepted max_tokens.
            ("max_completion_tokens" if self.official else "max_tokens"): n,
        }
        if req.temperature > 0:
            params["seed"] = req.seed
        return params

    async def _request(self, client, req: GenerationRequest) -> GenerationResult:
        self.stats["requests"] += 1
        params = self._params(req)
        cause = "no attempt made"
        attempts = self.policy.max_retries + 1
        for attempt in range(attempts):
            self.stats["attempts"] += 1
            try:
                return await self._attempt(client, params)
            except _Retry as r:
                cause = r.cause
                if attempt + 1 >= attempts:
                    break
                self.stats["retries"] += 1
                self.stats["retry_causes"][cause.split(":")[0]] += 1
                await asyncio.sleep(self.policy.delay(attempt, r.retry_after, self.rand))
            except _Final as f:
                self.stats["errors"] += 1
                return GenerationResult(None, scrub(f"{self.name} at {public_url(self.base_url)}: {f}",
                                                    self._secrets()))
        self.stats["errors"] += 1
        return GenerationResult(None, scrub(f"{self.name} at {public_url(self.base_url)}: {cause} "
                                            f"(gave up after {attempts} attempts)", self._secrets()))

    async def _attempt(self, client, params: dict[str, Any]) -> GenerationResult:
        import openai

        try:
            resp = await client.chat.completions.create(**params, timeout=self.timeout_s)
        except openai.APIStatusError as e:
            status = e.status_code
            msg = f"HTTP {status}: {_server_message(e)}"
            if is_retryable_status(status):
                raise _Retry(msg, parse_retry_after(dict(e.response.headers))) from None
            raise _Final(msg) from None
        except openai.APITimeoutError:
            raise _Retry(f"timed out: no response within {self.timeout_s:g} s") from None
        except openai.APIConnectionError as e:
            inner = e.__cause__ or e.__context__
            detail = f"{type(inner).__name__}: {inner}" if inner else str(e)
            raise _Retry(f"connection failed: {detail}") from None
        except (openai.APIResponseValidationError, ValueError) as e:  # body is not the JSON promised
            raise _Retry(f"malformed response body: {type(e).__name__}: {str(e)[:200]}") from None
        return self._extract(resp)

    def _extract(self, resp) -> GenerationResult:
        choices = getattr(resp, "choices", None)
        if not choices:
            raise _Retry("malformed response: no choices in a 200 response")
        choice = choices[0]
        msg = getattr(choice, "message", None)
        text = getattr(msg, "content", None)
        finish = getattr(choice, "finish_reason", None)
        if text is None:
            refusal = getattr(msg, "refusal", None)
            if isinstance(refusal, str):  # OpenAI's structured refusal: that is the model's answer
                text = refusal
            elif finish in PERMANENT_FINISH:
                raise _Final(f"the provider withheld the answer (finish_reason={finish})")
            else:
                raise _Retry(f"malformed response: message content is null (finish_reason={finish})")
        if not isinstance(text, str):
            raise _Retry(f"malformed response: content is a {type(text).__name__}, not text")
        usage = getattr(resp, "usage", None)
        served = getattr(resp, "model", None)
        if served:
            self.stats["served_models"].add(str(served))
        return GenerationResult(text, None, int(getattr(usage, "prompt_tokens", 0) or 0),
                                int(getattr(usage, "completion_tokens", 0) or 0))

    def stats_json(self) -> dict[str, Any]:
        s = dict(self.stats)
        s["retry_causes"] = dict(s["retry_causes"])
        s["served_models"] = sorted(s["served_models"])
        return s

    def close(self) -> None:
        pass


class _Final(Exception):
    """An attempt that failed for good (a client error such as 400, 401, 404)."""


def _server_message(e) -> str:
    """The server's own message: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            m = err.get("message") or err.get("detail")
            if m:
                return str(m)
        elif isinstance(err, str):
            return err
        if "detail" in body:
            return str(body["detail"])
    if isinstance(body, str) and body:
        return body[:300]
    return getattr(e, "message", None) or str(e)


def make_openai(arg: str, options: Mapping[str, Any]) -> OpenAIBackend:
    base_url = options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or None
    return OpenAIBackend(
        arg, base_url=base_url, api_key_env=options.get("api_key_env"),
        concurrency=options.get("concurrency"), timeout_s=options.get("timeout_s"),
        max_retries=options.get("max_retries"), max_new_tokens_cap=options.get("max_new_tokens_cap"))

