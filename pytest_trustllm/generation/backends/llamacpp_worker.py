"""The llama.cpp process behind ``LlamaCppBackend``: JSON lines in on stdin, JSON lines out on stdout.

llama.cpp runs in its own process for two reasons, both seen on the 2-core CI machine:
- two OpenMP runtimes in one process (torch's and llama.cpp's) keep each other's spinning threads
  busy: next to torch, llama.cpp made 0.9 tokens/s, in its own process 13.7 (docs/backends.md);
- a crash inside llama.cpp (a SIGSEGV on some CPUs) must fail the requests, not the pytest run.

Protocol: the first line is ``{"path", "threads"}``, answered by ``{"ok": true, "n_ctx", "file_type",
"version", "eos"}`` or ``{"error"}``. Each later line is ``{"ids", "max_new", "temperature", "seed",
"eos"}``, answered by ``{"tokens"}`` or ``{"error"}``. Nothing else is written to stdout.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any, Iterator


@contextlib.contextmanager
def without_weight_repacking(llama_cpp) -> Iterator[None]:
    """Load with llama.cpp's extra weight buffers (repacking, AMX) turned off.

    On an AMX-capable Xeon inside a VM, llama.cpp 0.3.x crashes (SIGSEGV in llama_decode) on Q4_1
    weights placed in the AMX buffer; the plain CPU path is safe and, for small models, as fast.
    ``Llama()`` builds its model parameters from ``llama_model_default_params`` and takes no
    argument for this, hence the swap while loading."""
    module = llama_cpp.llama.llama_cpp
    original = module.llama_model_default_params

    def params():
        p = original()
        p.use_extra_bufts = False
        return p

    module.llama_model_default_params = params
    try:
        yield
    finally:
        module.llama_model_default_params = original


def load(path: str, threads: int):
    import llama_cpp

    with without_weight_repacking(llama_cpp):
        # n_ctx=0: the model's own context length; every layer on the GPU when built with one
        return llama_cpp.Llama(path, n_ctx=0, n_threads=threads, n_threads_batch=threads, n_gpu_layers=-1,
                               verbose=False)


def generate(llm, ids: list[int], max_new: int, temperature: float, seed: int, eos: set[int]) -> list[int]:
    if temperature > 0:
        llm.set_seed(int(seed) & 0xFFFF_FFFF)
        # pure temperature sampling, as the transformers backend does: every filter off
        knobs: dict[str, Any] = dict(temp=float(temperature), top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0)
    else:
        knobs = dict(temp=0.0)
    # Forget the previous request: reusing its cached prefix evaluates the prompt in other pieces,
    # whose float rounding can change a sampled token, so a response would depend on the one before.
    llm.reset()
    toks: list[int] = []
    if max_new > 0:
        for t in llm.generate(ids, repeat_penalty=1.0, **knobs):
            toks.append(int(t))
            if t in eos or len(toks) >= max_new:
                break
    return toks


def serve(inp, out) -> None:
    def reply(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    first = inp.readline()
    if not first:
        return
    cfg = json.loads(first)
    try:
        import llama_cpp

        llm = load(cfg["path"], int(cfg["threads"]))
    except Exception as e:  # noqa: BLE001 - reported to the parent as a load error
        reply({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
        return
    ftype = llm.metadata.get("general.file_type")
    reply({"ok": True, "n_ctx": llm.n_ctx(), "file_type": None if ftype is None else int(ftype),
           "version": llama_cpp.__version__, "eos": llm.token_eos()})
    for line in inp:
        req = json.loads(line)
        try:
            toks = generate(llm, req["ids"], int(req["max_new"]), float(req["temperature"]), int(req["seed"]),
                            set(req["eos"]))
        except Exception as e:  # noqa: BLE001 - an error for this request, the worker goes on
            reply({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
            continue
        reply({"tokens": toks})


def quantize(src: str, dest: str, ftype: int) -> int:
    """llama.cpp's quantize tool: ``src`` stored as ``ftype`` (dequantised first when quantised)."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = max(1, os.cpu_count() or 1)
    return int(llama_cpp.llama_model_quantize(src.encode(), dest.encode(), ctypes.byref(params)))


def main(argv: list[str]) -> int:
    # llama.cpp writes its own logs to the C stdout/stderr; keep the protocol stream clean by
    # moving the real stdout aside and pointing fd 1 at stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    if argv[:1] == ["quantize"]:
        return quantize(argv[1], argv[2], int(argv[3]))
    if argv[:1] == ["gpu"]:
        import llama_cpp

        proto.write(json.dumps({"gpu_offload": bool(llama_cpp.llama_supports_gpu_offload())}) + "\n")
        proto.flush()
        return 0
    serve(sys.stdin, proto)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
