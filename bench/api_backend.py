"""API backend throughput against a local OpenAI-compatible server with fixed latency.

    .venv/bin/python bench/api_backend.py                          # 100 ms per request, concurrency 32
    .venv/bin/python bench/api_backend.py --latency 0.1 --concurrency 32 --requests 1280 --faults 0.05

The server (tests/servers/openai_fault.py) runs in its own process so it does not share the GIL
with the client. The ideal rate is concurrency / latency (320 req/s at 32 and 100 ms); the target
is >= 80 % of it. For comparison the same requests also go through a bare AsyncOpenAI loop with a
semaphore (no retries, no bookkeeping), measured in the same invocation. With --faults P a share
P of requests first answers 429 (Retry-After 0.1 s) or 503, to show what retries cost.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def start_server(latency: float, faults: float) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "tests.servers.openai_fault", "--latency", str(latency), "--retry-after", "0.1"]
    if faults:
        cmd += ["--rate", f"429={faults / 2}", "--rate", f"503={faults / 2}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"fault server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


async def bare(base_url: str, n: int, concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=30)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"bare {i}"}],
                                                 max_tokens=16, temperature=0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    dt = time.perf_counter() - t0
    await client.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--requests", type=int, default=1280)
    ap.add_argument("--faults", type=float, default=0.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    from pytest_trustllm.generation.backends.openai_api import OpenAIBackend
    from pytest_trustllm.types import GenerationRequest, Message

    proc, url = start_server(args.latency, args.faults)
    try:
        b = OpenAIBackend("m", base_url=url, concurrency=args.concurrency, timeout_s=30)
        ideal = args.concurrency / args.latency
        best_b = best_raw = float("inf")
        errors = 0
        for r in range(args.rounds):
            reqs = [GenerationRequest((Message("user", f"r{r} p{i}"),), max_new_tokens=16) for i in range(args.requests)]
            t0 = time.perf_counter()
            out = b.generate(reqs)
            best_b = min(best_b, time.perf_counter() - t0)
            errors += sum(not o.ok for o in out)
            if not args.faults:
                best_raw = min(best_raw, asyncio.run(bare(url, args.requests, args.concurrency)))
        rate = args.requests / best_b
        print(f"server latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, {args.requests} requests, "
              f"faults {args.faults:.0%}, best of {args.rounds}")
        print(f"  backend      {best_b:6.2f} s  {rate:7.1f} req/s   errors {errors}   retries {b.stats['retries']}")
        if not args.faults:
            print(f"  bare client  {best_raw:6.2f} s  {args.requests / best_raw:7.1f} req/s")
        print(f"  ideal                  {ideal:7.1f} req/s")
        print(f"backend / ideal: {rate / ideal:.2f}   (target >= 0.80)")
        if not args.faults:
            print(f"backend / bare AsyncOpenAI loop: {best_raw / best_b:.2f}x")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
