"""Warm-cache rerun vs replay, through generation.generate_all, side by side in one process.

    .venv/bin/python bench/cache_rerun.py                 # 1,000 items, 21 interleaved rounds
    .venv/bin/python bench/cache_rerun.py --items 5000 --rounds 7

  replay   generate_all(ReplayBackend(), requests)      responses from the records, no cache
  warm     generate_all(model, requests, cache)         every response already in the SQLite cache

The "model" is a stand-in that counts its calls (a real one would only be slower on the cold run).
Targets: the warm rerun makes zero model calls and takes at most 1.2x the replay run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pytest_trustllm.generation.backends.replay import ReplayBackend  # noqa: E402
from pytest_trustllm.generation.cache import ResponseCache  # noqa: E402
from pytest_trustllm.generation.generate import GenerationStats, generate_all  # noqa: E402
from pytest_trustllm.types import GenerationRequest, GenerationResult, Message  # noqa: E402


class CountingModel:
    name = "counting"
    cacheable = True

    def __init__(self) -> None:
        self.identity = {"backend": "bench", "model": "counting", "weights_sha256": "0" * 64}
        self.calls = 0

    def generate(self, requests, on_result=None):
        self.calls += len(requests)
        out = [GenerationResult(f"answer to {r.messages[-1].content}", None, 10, 20) for r in requests]
        if on_result:
            for i, r in enumerate(out):
                on_result(i, r)
        return out

    def close(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=21)
    args = ap.parse_args()
    reqs = [GenerationRequest((Message("user", f"Prompt number {i}: " + "some words " * 30),), max_new_tokens=512,
                              record={"res": f"answer to item {i}"}, key=str(i)) for i in range(args.items)]
    with tempfile.TemporaryDirectory() as tmp:
        cache = ResponseCache(Path(tmp) / "responses.sqlite")
        model = CountingModel()
        t0 = time.perf_counter()
        generate_all(model, reqs, cache)
        cold = time.perf_counter() - t0
        cold_calls, model.calls = model.calls, 0
        replay = ReplayBackend()
        best = {"replay": float("inf"), "warm": float("inf")}
        ratios = []
        for _ in range(args.rounds):
            took = {}
            for name in best:
                stats = GenerationStats()
                t0 = time.perf_counter()
                if name == "replay":
                    out = generate_all(replay, reqs, None, stats)
                else:
                    out = generate_all(model, reqs, cache, stats)
                took[name] = time.perf_counter() - t0
                best[name] = min(best[name], took[name])
                assert len(out) == args.items and stats.errors == 0
                assert name == "replay" or stats.cached == args.items
            ratios.append(took["warm"] / took["replay"])
        cache.close()
    print(f"{args.items} items, {args.rounds} interleaved rounds")
    print(f"  cold run (fills the cache)  {cold * 1000:8.1f} ms   model calls {cold_calls}")
    print(f"  replay                      {best['replay'] * 1000:8.1f} ms")
    print(f"  warm-cache rerun            {best['warm'] * 1000:8.1f} ms   model calls {model.calls}")
    ratios.sort()
    print(f"warm rerun / replay: best {best['warm'] / best['replay']:.2f}x, median of paired rounds "
          f"{ratios[len(ratios) // 2]:.2f}x   (target <= 1.2x); zero model calls: {model.calls == 0}")


if __name__ == "__main__":
    main()
