"""Replay: responses recorded earlier, from each record's ``res`` field (TrustLLM's generation-output
format) or from a responses file (``replay:PATH``, JSON list or JSONL, matched by id or prompt)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_trustllm.types import GenerationRequest, GenerationResult
from pytest_trustllm.generation.backends.base import BackendError

RESPONSE_FIELDS = ("res", "response")


class ReplayBackend:
    name = "replay"
    cacheable = False

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.by_id: dict[str, Any] = {}
        self.by_prompt: dict[str, Any] = {}
        ident: dict[str, Any] = {"backend": "replay", "source": "record field 'res'"}
        if path:
            p = Path(path)
            if not p.is_file():
                raise BackendError(f"replay responses file not found: {path}")
            data = p.read_bytes()
            for row in _rows(p, data):
                resp = next((row[f] for f in RESPONSE_FIELDS if f in row), None)
                if "id" in row:
                    self.by_id[str(row["id"])] = resp
                if "prompt" in row:
                    self.by_prompt[row["prompt"]] = resp
            ident = {"backend": "replay", "source": p.name, "sha256": hashlib.sha256(data).hexdigest()}
        self.identity = ident

    def generate(self, requests: Sequence[GenerationRequest], on_result=None) -> list[GenerationResult]:
        out = [self._one(r) for r in requests]
        if on_result is not None:
            for i, r in enumerate(out):
                on_result(i, r)
        return out

    def _one(self, req: GenerationRequest) -> GenerationResult:
        if self.path:
            prompt = req.messages[-1].content if req.messages else ""
            if req.key in self.by_id:
                text = self.by_id[req.key]
            elif prompt in self.by_prompt:
                text = self.by_prompt[prompt]
            else:
                return GenerationResult(None, f"no recorded response for id {req.key!r} or its prompt in {self.path}")
        else:
            field = next((f for f in RESPONSE_FIELDS if f in req.record), None)
            if field is None:
                return GenerationResult(None, "the record has no recorded response (field 'res'); "
                                              "use a live model or replay:RESPONSES_FILE")
            text = req.record[field]
        if text is None:
            return GenerationResult(None, "the recorded response is null (generation failed when it was recorded)")
        if not isinstance(text, str):
            return GenerationResult(None, f"the recorded response is a {type(text).__name__}, not text")
        return GenerationResult(text)

    def close(self) -> None:
        pass


def _rows(path: Path, data: bytes) -> list[Mapping[str, Any]]:
    text = data.decode("utf-8")
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise BackendError(f"replay responses file {path} is not valid JSON: {e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise BackendError(f"replay responses file {path} must hold a list of objects")
    return rows


def make_replay(arg: str, options: Mapping[str, Any]) -> ReplayBackend:
    """``replay`` (each record's ``res``), ``replay:FOLDER`` (a folder of recorded generations: the suites
    read their records from it, so again each record's ``res``) or ``replay:RESPONSES_FILE``."""
    if arg and Path(arg).expanduser().is_dir():
        backend = ReplayBackend(None)
        backend.identity = {"backend": "replay", "source": f"recorded folder {Path(arg).expanduser().resolve().name}"}
        return backend
    return ReplayBackend(arg or None)
