"""Local inference engines against the transformers backend, on the `make trust` prompts, side by side.

    .venv/bin/python bench/engines.py                          # every engine that is installed
    .venv/bin/python bench/engines.py --engines transformers,llamacpp-f32 --limit 40
    .venv/bin/python bench/engines.py --baseline llamacpp-f32 --engines llamacpp-f16 --every 8   # F16 vs F32
    .venv/bin/python bench/engines.py --baseline llamacpp-f32@1 --engines llamacpp-f32@8 --sampled  # batch mates

The prompts are those of `make trust`: every suite under suites/trustllm/, 8 sampled records each
(--trust-sample=8, seed 0), the suite's system prompt and the real chat template, capped at 64 new
tokens (--trust-max-new-tokens=64). They go to each engine in the plugin's own chunks (a chunk is
one ``generate`` call, as in a run; sampled records are renumbered into full chunks, as the plugin
does), and every request is decoded greedily so that outputs can be compared: the share of
completions identical to the baseline's (transformers unless --baseline says) is the agreement.
With --sampled the requests keep their suites' temperatures and seeds (16 of 26 suites sample at
temperature 1): the agreement then says whether an engine draws the same tokens as the baseline,
e.g. llama.cpp batched against llama.cpp one sequence at a time (does a sequence depend on its
batch mates?).

Engines run chunk by chunk in turn (A B C, B C A, ...), so a change of load on a shared machine hits
them alike. For each engine: one-time preparation (conversion into the model cache, reported, not
counted), load time, time to the first result (load + first chunk), items/s and completion tokens/s
over the generation, and the installed size of the engine's packages.

Engines (each skipped, with the reason, when its package is missing):
  transformers     today's backend (LocalBackend, fp32, batch 8): the baseline
  llamacpp-q4_1    llama-cpp-python on the bundled GGUF as shipped (Q4_1 weights)
  llamacpp-f32     llama-cpp-python on the same weights dequantised once into an F32 GGUF
  llamacpp-f16     the same, stored as F16 (half the memory traffic per token)
                   (llamacpp-*@N: N sequences decoded together; without @N the backend's default,
                   @1 is one sequence at a time; llamacpp-*:kv16, e.g. llamacpp-f32@8:kv16: an F16
                   KV cache, llama.cpp's default, instead of F32)
  ct2-float32      CTranslate2, batched, fp32
  ct2-int8         CTranslate2, batched, int8 weights
  ort-genai-fp32   ONNX Runtime GenAI, batched, fp32 (its model builder needs onnx and onnx-ir)
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pytest_trustllm.types import GenerationRequest, GenerationResult  # noqa: E402

SUITES = ROOT / "suites" / "trustllm"
ENGINES = ("transformers", "llamacpp-q4_1", "llamacpp-f32", "llamacpp-f16", "ct2-float32", "ct2-int8", "ort-genai-fp32")
# the distributions each engine adds to a transformers install (their installed size is reported)
PACKAGES = {"transformers": ("torch", "transformers"), "llamacpp": ("llama-cpp-python", "diskcache"),
            "ct2": ("ctranslate2",), "ort-genai": ("onnxruntime-genai", "onnxruntime")}


# ---- the prompts of `make trust` ---------------------------------------------------------------

def trust_chunks(sample: int = 8, seed: int = 0, cap: int = 64) -> list[tuple[str, list[GenerationRequest]]]:
    """(suite id, requests) per chunk, in collection order, as `make trust` sends them."""
    from pytest_trustllm.suite.paths import DataLocator
    from pytest_trustllm.generation.execute import build_request
    from pytest_trustllm.suite.load import load_suite
    from pytest_trustllm.suite.records import build_items, read_records, rechunk, sample_items

    chunks = []
    for path in sorted(SUITES.rglob("*.yaml")):
        suite = load_suite(path)
        data = DataLocator().resolve(suite)
        items = build_items(suite, read_records(data), data)
        items = rechunk(sample_items(items, sample, f"{seed}:{suite.data}", suite.record.stratify), suite.chunk_size)
        by_chunk: dict[int, list] = {}
        for it in items:
            by_chunk.setdefault(it.chunk, []).append(it)
        for c in sorted(by_chunk):
            chunks.append((suite.id, [build_request(suite, it, cap=cap, seed=seed) for it in by_chunk[c]]))
    return chunks


def greedy(reqs: Sequence[GenerationRequest]) -> list[GenerationRequest]:
    return [dataclasses.replace(r, temperature=0.0) for r in reqs]


# ---- engines -----------------------------------------------------------------------------------

def installed_mb(dists: Sequence[str]) -> float | None:
    total = 0
    for name in dists:
        try:
            files = md.distribution(name).files or []
        except md.PackageNotFoundError:
            return None
        total += sum((f.size or 0) for f in files)
    return total / 1e6


@dataclasses.dataclass
class Engine:
    name: str
    backend: Any = None
    prepare_s: float = 0.0  # one-time conversion, not counted below
    load_s: float = 0.0
    gen_s: float = 0.0
    first_s: float | None = None
    items: int = 0
    tokens: int = 0
    errors: int = 0
    texts: list = dataclasses.field(default_factory=list)
    skipped: str | None = None
    note: str = ""


def make_engine(name: str, hf_folder: Path, gguf: Path, cache: Path, threads: int) -> tuple[Any, float, str]:
    """(backend, one-time preparation seconds, note). Raises ImportError when the engine is missing."""
    family = name.split("-")[0]
    if family == "transformers":
        from pytest_trustllm.generation.backends.local import LocalBackend

        return LocalBackend(str(hf_folder), device="cpu", batch_size=8), 0.0, "fp32, batch 8"
    if family == "llamacpp":
        import llama_cpp  # noqa: F401

        from pytest_trustllm.generation.backends.llamacpp import DEFAULT_BATCH, LlamaCppBackend, converted_gguf, gguf_tokenizer

        t0 = time.perf_counter()
        spec, _, kv = name.split("-", 1)[1].partition(":")
        weights, _, n = spec.partition("@")
        batch = int(n) if n else DEFAULT_BATCH
        kv = {"": "f32", "kv16": "f16"}[kv]
        path = gguf if weights == "q4_1" else converted_gguf(gguf, {"f32": "float32", "f16": "float16"}[weights], cache)
        tokenizer = gguf_tokenizer(gguf, cache)
        prep = time.perf_counter() - t0
        return (LlamaCppBackend(path, tokenizer, threads=threads, identity_name="smollm2", batch_size=batch,
                                kv_cache=kv), prep,
                ("Q4_1 as shipped" if weights == "q4_1" else weights.upper()) + ", "
                + ("one sequence at a time" if batch == 1 else f"{batch} sequences per step")
                + f", {kv.upper()} KV cache")
    if family == "ct2":
        import ctranslate2  # noqa: F401

        compute = name.split("-", 1)[1]
        t0 = time.perf_counter()
        folder = cache / "bench-ct2"
        if not (folder / "model.bin").is_file():
            from ctranslate2.converters import TransformersConverter

            TransformersConverter(str(hf_folder)).convert(str(folder), quantization="float32", force=True)
        prep = time.perf_counter() - t0
        return Ct2Engine(folder, hf_folder, compute, threads), prep, f"{compute}, batch 8"
    if family == "ort":
        import onnxruntime_genai  # noqa: F401

        t0 = time.perf_counter()
        folder = cache / "bench-ort-genai-fp32"
        if not (folder / "genai_config.json").is_file():
            proc = subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_folder),
                                   "-o", str(folder), "-p", "fp32", "-e", "cpu", "-c", str(cache / "ort-tmp")],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                raise ImportError(f"model builder failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1]}")
        prep = time.perf_counter() - t0
        return OrtGenAIEngine(folder, hf_folder), prep, "fp32, batch 8"
    raise SystemExit(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")


class Ct2Engine:
    """CTranslate2 greedy decoding in batches of 8 (only what the benchmark needs)."""

    def __init__(self, folder: Path, hf_folder: Path, compute: str, threads: int) -> None:
        import ctranslate2
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(hf_folder))
        self.gen = ctranslate2.Generator(str(folder), device="cpu", compute_type=compute, intra_threads=threads)
        self.eos = self.tok.eos_token_id

    def generate(self, reqs, on_result=None):
        from pytest_trustllm.generation.backends.local import chat_token_ids, plan_batches

        ids = [chat_token_ids(self.tok, r) for r in reqs]
        out: list = [None] * len(reqs)
        for batch in plan_batches([len(x) for x in ids], [r.max_new_tokens for r in reqs], 8):
            res = self.gen.generate_batch([self.tok.convert_ids_to_tokens(ids[i]) for i in batch],
                                          max_length=reqs[batch[0]].max_new_tokens, sampling_topk=1,
                                          include_prompt_in_result=False, end_token=[self.eos], return_end_token=True)
            for i, r in zip(batch, res):
                toks = r.sequences_ids[0]
                out[i] = GenerationResult(self.tok.decode(toks, skip_special_tokens=True), None, len(ids[i]), len(toks))
                if on_result:
                    on_result(i, out[i])
        return out


class OrtGenAIEngine:
    """ONNX Runtime GenAI greedy decoding in batches of 8 (only what the benchmark needs)."""

    def __init__(self, folder: Path, hf_folder: Path) -> None:
        import onnxruntime_genai as og
        from transformers import AutoTokenizer

        self.og = og
        self.tok = AutoTokenizer.from_pretrained(str(hf_folder))
        self.model = og.Model(str(folder))
        self.eos = self.tok.eos_token_id

    def generate(self, reqs, on_result=None):
        from pytest_trustllm.generation.backends.local import chat_token_ids, cut_at_end, plan_batches

        og = self.og
        ids = [chat_token_ids(self.tok, r) for r in reqs]
        out: list = [None] * len(reqs)
        for batch in plan_batches([len(x) for x in ids], [r.max_new_tokens for r in reqs], 8):
            width = max(len(ids[i]) for i in batch)
            params = og.GeneratorParams(self.model)
            params.set_search_options(do_sample=False, max_length=width + reqs[batch[0]].max_new_tokens,
                                      batch_size=len(batch))
            gen = og.Generator(self.model, params)
            pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.eos
            gen.append_tokens([[pad] * (width - len(ids[i])) + ids[i] for i in batch])  # left padded
            while not gen.is_done():
                gen.generate_next_token()
            for row, i in enumerate(batch):
                toks = cut_at_end(list(gen.get_sequence(row))[width:], {self.eos})
                out[i] = GenerationResult(self.tok.decode(toks, skip_special_tokens=True), None, len(ids[i]), len(toks))
                if on_result:
                    on_result(i, out[i])
        return out


# ---- the run -----------------------------------------------------------------------------------

def run_chunk(e: Engine, reqs: list[GenerationRequest]) -> None:
    t0 = time.perf_counter()
    got: list[GenerationResult | None] = [None] * len(reqs)

    def on_result(i: int, res: GenerationResult) -> None:
        if e.first_s is None:
            e.first_s = e.load_s + e.gen_s + (time.perf_counter() - t0)
        got[i] = res

    out = e.backend.generate(reqs, on_result)
    e.gen_s += time.perf_counter() - t0
    for res in out:
        e.items += 1
        e.tokens += res.completion_tokens
        e.errors += 0 if res.ok else 1
        e.texts.append(res.text if res.ok else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, from: " + ", ".join(ENGINES))
    ap.add_argument("--limit", type=int, default=0, help="only the first N chunks (0: all)")
    ap.add_argument("--every", type=int, default=1, help="only every N-th chunk (a spread over all suites)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads per engine")
    ap.add_argument("--cache", default=None, help="where converted models go (default: the model cache)")
    ap.add_argument("--baseline", default="transformers",
                    help="the engine that ratios and agreement refer to (default: transformers)")
    ap.add_argument("--sampled", action="store_true",
                    help="keep each suite's temperature and seed instead of decoding every request greedily")
    ap.add_argument("--outputs", default=None, help="write every engine's completions to this JSON file")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from pytest_trustllm.generation.backends.model_files import ensure_converted, gguf_path, model_cache_dir

    hf_folder = ensure_converted()
    gguf, _ = gguf_path()
    cache = Path(args.cache) if args.cache else model_cache_dir()
    chunks = trust_chunks()
    chunks = chunks[::args.every]
    if args.limit:
        chunks = chunks[:args.limit]
    n_req = sum(len(r) for _, r in chunks)
    prep = (lambda reqs: list(reqs)) if args.sampled else greedy
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    for n in names + [args.baseline]:
        m = re.fullmatch(r"(?P<base>[a-z0-9_-]+?)(@\d+)?(:kv16)?", n)
        if not m or m["base"] not in ENGINES or (n != m["base"] and not n.startswith("llamacpp-")):
            raise SystemExit(f"unknown engine {n!r}; valid: {', '.join(ENGINES)} "
                             "(llamacpp-*@N: N sequences per step; llamacpp-*:kv16: an F16 KV cache)")
    names = [args.baseline] + [n for n in names if n != args.baseline]  # ratios and agreement refer to it
    engines: list[Engine] = []
    for name in names:
        e = Engine(name)
        t0 = time.perf_counter()
        try:
            backend, e.prepare_s, e.note = make_engine(name, hf_folder, gguf, cache, args.threads)
        except ImportError as exc:
            e.skipped = f"not installed ({exc})"
            engines.append(e)
            continue
        e.backend = backend
        run_chunk(e, prep(chunks[0][1][:1]))  # warm-up: first-call allocations, not counted
        e.items = e.tokens = e.errors = 0
        e.texts.clear()
        e.first_s = None
        # load (a backend may load in its constructor or on its first call) and warm-up, not the
        # one-time conversion
        e.load_s = time.perf_counter() - t0 - e.prepare_s
        e.gen_s = 0.0
        engines.append(e)
    live = [e for e in engines if e.skipped is None]
    print(f"{len(chunks)} chunks (every {args.every}. of the make trust selection), {n_req} prompts "
          f"({'sampled as the suites say' if args.sampled else 'greedy'}, <= 64 new tokens), "
          f"{args.threads} threads, {os.cpu_count()} cpus", flush=True)
    for k, (suite, reqs) in enumerate(chunks):
        for j in range(len(live)):
            run_chunk(live[(k + j) % len(live)], prep(reqs))
        if (k + 1) % 10 == 0:
            print(f"  {k + 1}/{len(chunks)} chunks", flush=True)
    base = engines[0]
    print()
    print(f"| engine | set-up | items/s | completion tokens/s | speed-up | first result | identical to {args.baseline} "
          "| installed size | one-time preparation |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for e in engines:
        if e.skipped:
            print(f"| {e.name} | {e.skipped} | | | | | | | |")
            continue
        rate = e.items / e.gen_s
        same = sum(a is not None and a == b for a, b in zip(e.texts, base.texts))
        size = installed_mb(PACKAGES[e.name.split("-")[0]] if e.name.startswith(("transformers", "ct2", "llamacpp"))
                            else PACKAGES["ort-genai"])
        print(f"| {e.name} | {e.note} | {rate:.2f} | {e.tokens / e.gen_s:.1f} | {rate / (base.items / base.gen_s):.2f}x "
              f"| {e.first_s:.1f} s | {same}/{len(base.texts)} ({100 * same / max(1, len(base.texts)):.0f}%) "
              f"| {size:.0f} MB | {e.prepare_s:.0f} s |" + (f" {e.errors} errors" if e.errors else ""))
    if args.outputs:
        import json

        Path(args.outputs).write_text(json.dumps({e.name: e.texts for e in live}, indent=1))
    print("\nload and warm-up seconds: " + ", ".join(f"{e.name} {e.load_s:.1f}" for e in live))


if __name__ == "__main__":
    main()
