"""The llama.cpp process behind ``LlamaCppBackend``: JSON lines in on stdin, JSON lines out on stdout.

llama.cpp runs in its own process for two reasons, both seen on the 2-core CI machine:
- two OpenMP runtimes in one process (torch's and llama.cpp's) keep each other's spinning threads
  busy: next to torch, llama.cpp made 0.9 tokens/s, in its own process 13.7 (docs/backends.md);
- a crash inside llama.cpp (a SIGSEGV on some CPUs) must fail the requests, not the pytest run.

Protocol: the first line is ``{"path", "threads", "n_seq", "kv"}`` (``kv``: "f32" or "f16", the KV
cache's type), answered by ``{"ok": true, "n_ctx", "file_type", "version", "eos", "n_seq"}`` or
``{"error"}``; ``n_ctx`` is the most tokens (prompt + new) one request may take. Each later line is a
batch ``{"requests": [{"ids", "max_new", "temperature", "seed", "eos"}, ...]}``, answered by one line
per request as it finishes, in any order, ``{"i", "tokens"}`` or ``{"i", "error"}`` (``i`` is the
request's place in the batch), then ``{"done": true}``. Nothing else is written to stdout.

Decoding is batched (``Decoder``): up to ``n_seq`` sequences share each ``llama_decode`` call, one new
token each, so the weights are read once per step for all of them (single-stream F32 decoding is
bound by memory traffic, not arithmetic). A finished sequence leaves and the next request in the
queue takes its place (continuous batching).
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

# prompt tokens evaluated per llama_decode call at most (llama.cpp splits it into ubatches of 512)
N_BATCH = 2048


@dataclass
class Request:
    ids: list[int]
    max_new: int
    temperature: float = 0.0
    seed: int = 0
    eos: frozenset[int] = frozenset()


@dataclass
class _Seq:
    i: int  # the request's place in the batch
    req: Request
    slot: int  # the llama.cpp sequence id it occupies
    rng: object = None
    fed: int = 0  # prompt tokens already evaluated
    tokens: list[int] = field(default_factory=list)

    @property
    def need(self) -> int:
        return len(self.req.ids) + self.req.max_new


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


class Decoder:
    """A llama.cpp model and one context whose KV cache holds up to ``n_seq`` sequences at once.

    The KV cache is unified (one pool of cells for all sequences): a long prompt may use what short
    ones leave, so any request that fits the model's context runs, alone if need be. A request is
    admitted only when its whole need (prompt + max_new) fits in the cells the others have not
    reserved, so a decode step never runs out of room.
    """

    def __init__(self, path: str, threads: int, n_seq: int = 8, n_ctx: int = 0, kv_f32: bool = True) -> None:
        import logging

        import llama_cpp as L

        # llama-cpp-python routes llama.cpp's log through this logger: errors only (it prints to stderr,
        # which the parent keeps for the message when the worker dies)
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        self.L = L
        self.n_seq = max(1, min(int(n_seq), int(L.llama_max_parallel_sequences())))
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = -1  # every layer on the GPU when built with one
        # llama.cpp's extra weight buffers (repacking, AMX) off: on an AMX-capable Xeon inside a VM,
        # llama.cpp 0.3.x crashed (SIGSEGV in llama_decode) on Q4_1 weights placed there; the plain CPU
        # path is safe and, for small models, as fast.
        mp.use_extra_bufts = False
        self.model = L.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        train = int(L.llama_model_n_ctx_train(self.model))
        # one request may use the model's whole context; the pool is at least that, and grows with
        # n_seq so that that many typical requests (up to 1024 tokens each) fit side by side
        self.n_ctx = n_ctx or train
        pool = max(self.n_ctx, min(self.n_seq * 1024, 4 * self.n_ctx))
        cp = L.llama_context_default_params()
        cp.n_ctx = pool
        self.capacity = N_BATCH + self.n_seq  # a full prompt piece beside one token per sequence
        cp.n_batch = self.capacity
        cp.n_ubatch = 512
        cp.n_seq_max = self.n_seq
        cp.kv_unified = True
        # keys and values kept as F32, not llama.cpp's F16: attention then rounds as little as the
        # transformers backend's, and a sequence's logits hardly depend on where its cells lie among
        # its batch mates' (F16 turned differences of 1e-7 into 1e-2; docs/backends.md)
        kv = L.GGML_TYPE_F32 if kv_f32 else L.GGML_TYPE_F16
        cp.type_k = cp.type_v = kv
        cp.n_threads = cp.n_threads_batch = int(threads)
        cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED  # as Llama() had it; no faster here when on
        cp.no_perf = True
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise RuntimeError(f"llama.cpp could not make a context of {pool} tokens for {self.n_seq} sequences")
        self.pool = int(L.llama_n_ctx(self.ctx))
        self.mem = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(self.capacity, 0, 1)

    # -- facts for the parent -----------------------------------------------------------------
    def file_type(self) -> int | None:
        buf = ctypes.create_string_buffer(64)
        n = self.L.llama_model_meta_val_str(self.model, b"general.file_type", buf, len(buf))
        return int(buf.value) if n > 0 and buf.value.isdigit() else None

    def eos(self) -> int:
        return int(self.L.llama_vocab_eos(self.vocab))

    # -- decoding -----------------------------------------------------------------------------
    def run(self, requests: Sequence[Request], on_done: Callable[[int, list[int] | None, str | None], None]) -> None:
        """Decode every request; ``on_done(i, tokens, error)`` as each one finishes."""
        import numpy as np

        L = self.L
        queue = deque(range(len(requests)))
        free_slots = list(range(self.n_seq - 1, -1, -1))
        active: list[_Seq] = []
        reserved = 0
        L.llama_memory_clear(self.mem, False)  # metadata only: freed cells are masked out
        while queue or active:
            # admit waiting requests while a slot and their whole need in KV cells are free
            while queue and free_slots:
                req = requests[queue[0]]
                need = len(req.ids) + req.max_new
                if need > self.n_ctx or not req.ids:
                    i = queue.popleft()
                    on_done(i, None, f"prompt of {len(req.ids)} tokens plus {req.max_new} new tokens does not fit "
                                     f"the context of {self.n_ctx}" if req.ids else "empty prompt")
                    continue
                if req.max_new <= 0:
                    on_done(queue.popleft(), [], None)
                    continue
                if reserved + need > self.pool:
                    break
                i = queue.popleft()
                rng = np.random.Generator(np.random.PCG64(int(req.seed) & 0xFFFF_FFFF_FFFF_FFFF)) \
                    if req.temperature > 0 else None
                active.append(_Seq(i, req, free_slots.pop(), rng))
                reserved += need
            if not active:
                continue
            # one llama_decode: the next token of every sequence that is generating, then prompt
            # pieces of newly admitted ones while the batch has room
            b = self.batch
            n, outputs = 0, []
            for s in sorted(active, key=lambda s: s.fed < len(s.req.ids)):
                if s.fed == len(s.req.ids):
                    toks, pos0 = s.tokens[-1:], len(s.req.ids) + len(s.tokens) - 1
                else:
                    # a prompt goes in whole when it fits, else waits for the next step; only one
                    # longer than N_BATCH is fed in pieces
                    rest, room = len(s.req.ids) - s.fed, self.capacity - n
                    if rest > room and (rest <= N_BATCH or room <= 0):
                        continue
                    toks, pos0 = s.req.ids[s.fed:s.fed + room], s.fed
                for k, t in enumerate(toks):
                    b.token[n] = t
                    b.pos[n] = pos0 + k
                    b.n_seq_id[n] = 1
                    b.seq_id[n][0] = s.slot
                    b.logits[n] = 0
                    n += 1
                if s.fed < len(s.req.ids):
                    s.fed += len(toks)
                if s.fed == len(s.req.ids):  # its prompt is in: this step gives its next token
                    b.logits[n - 1] = 1
                    outputs.append((s, n - 1))
            b.n_tokens = n
            rc = L.llama_decode(self.ctx, b)
            if rc != 0:
                # the batch failed as a whole: its sequences fail, the worker goes on with the rest
                for s in list(active):
                    L.llama_memory_seq_rm(self.mem, s.slot, -1, -1)
                    free_slots.append(s.slot)
                    reserved -= s.need
                    on_done(s.i, None, f"llama_decode failed (status {rc}) on a batch of {n} tokens")
                active.clear()
                continue
            for s, row in outputs:
                logits = np.ctypeslib.as_array(L.llama_get_logits_ith(self.ctx, row), shape=(self.n_vocab,))
                s.tokens.append(pick(logits, s.req.temperature, s.rng))
                if s.tokens[-1] in s.req.eos or len(s.tokens) >= s.req.max_new:
                    L.llama_memory_seq_rm(self.mem, s.slot, -1, -1)
                    active.remove(s)
                    free_slots.append(s.slot)
                    reserved -= s.need
                    on_done(s.i, s.tokens, None)

    def close(self) -> None:
        L = self.L
        if self.batch is not None:
            L.llama_batch_free(self.batch)
            self.batch = None
        if self.ctx:
            L.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            L.llama_model_free(self.model)
            self.model = None


def pick(logits, temperature: float, rng) -> int:
    """Greedy: the highest logit (the first on a tie). Otherwise pure temperature sampling, as the
    transformers backend does (no top-k, top-p or min-p): one uniform draw from the request's own
    generator against softmax(logits / T), so a request's draws never depend on other requests."""
    import numpy as np

    if temperature <= 0 or rng is None:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / float(temperature)
    p = np.exp(z - z.max())
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))


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

        dec = Decoder(cfg["path"], int(cfg["threads"]), int(cfg.get("n_seq") or 8),
                      kv_f32=cfg.get("kv", "f32") == "f32")
    except Exception as e:  # noqa: BLE001 - reported to the parent as a load error
        reply({"error": _first_line(e)})
        return
    reply({"ok": True, "n_ctx": dec.n_ctx, "file_type": dec.file_type(), "version": llama_cpp.__version__,
           "eos": dec.eos(), "n_seq": dec.n_seq})
    for line in inp:
        msg = json.loads(line)
        reqs = [Request(list(r["ids"]), int(r["max_new"]), float(r["temperature"]), int(r["seed"]),
                        frozenset(r["eos"])) for r in msg["requests"]]
        answered: set[int] = set()

        def done(i: int, toks: list[int] | None, error: str | None) -> None:
            answered.add(i)
            reply({"i": i, "tokens": toks} if error is None else {"i": i, "error": error})

        try:
            dec.run(reqs, done)
        except Exception as e:  # noqa: BLE001 - errors for the unanswered requests, the worker goes on
            for i in range(len(reqs)):
                if i not in answered:
                    reply({"i": i, "error": _first_line(e)})
        reply({"done": True})
    dec.close()


def quantize(src: str, dest: str, ftype: int) -> int:
    """llama.cpp's quantize tool: ``src`` stored as ``ftype`` (dequantised first when quantised)."""
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
