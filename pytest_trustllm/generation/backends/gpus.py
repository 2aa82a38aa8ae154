"""GPU pinning for xdist workers: pure functions the plugin's hooks call.

``-n auto`` means one worker per ``gpus_per_worker`` visible GPUs, and each worker pins itself in
an early ``pytest_configure`` (before anything initialises CUDA) by setting ``CUDA_VISIBLE_DEVICES``
to ``pin_worker(...)``. GPUs are counted without importing torch: ``CUDA_VISIBLE_DEVICES`` when it
is set, else ``nvidia-smi -L``.

Why indices from ``nvidia-smi`` are safe even though CUDA may enumerate GPUs in another order
(``CUDA_DEVICE_ORDER``): the workers take disjoint sets of indices, and any ordering is a
one-to-one map, so disjoint indices are still disjoint GPUs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Mapping, Sequence

_WORKER = re.compile(r"^gw(\d+)$")


def visible_gpus(env: Mapping[str, str] | None = None, nvidia_smi: str | None = "nvidia-smi") -> list[str]:
    """The GPU ids this process may use: entries of CUDA_VISIBLE_DEVICES, else nvidia-smi's indices."""
    env = os.environ if env is None else env
    cvd = env.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        ids = []
        for part in cvd.split(","):
            part = part.strip()
            if not part or part.startswith("-"):  # CUDA stops at the first invalid entry ("-1": none)
                break
            ids.append(part)
        return ids
    exe = shutil.which(nvidia_smi) if nvidia_smi else None
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, _ in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


def cpu_count() -> int:
    """Usable CPUs: the affinity mask where the OS has one (containers, taskset), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_workers(gpus_per_worker: int = 1, env: Mapping[str, str] | None = None,
                 gpus: Sequence[str] | None = None) -> int:
    """Workers for ``-n auto``: visible GPUs // gpus_per_worker (at least 1) when there are GPUs,
    else the CPU count; ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides both, as in pytest-xdist."""
    env = os.environ if env is None else env
    forced = env.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if forced:
        try:
            return max(1, int(forced))
        except ValueError:
            pass
    g = _check(gpus_per_worker)
    gpus = visible_gpus(env) if gpus is None else list(gpus)
    if gpus:
        return max(1, len(gpus) // g)
    return cpu_count()


def auto_num_workers(settings, env: Mapping[str, str] | None = None) -> int | None:
    """For the ``pytest_xdist_auto_num_workers`` hook: one worker per ``settings.gpus_per_worker``
    visible GPUs, or None without GPUs (xdist then applies its own CPU-count rule)."""
    env = os.environ if env is None else env
    if env.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist reads the override itself
    gpus = visible_gpus(env)
    if not gpus:
        return None
    return auto_workers(getattr(settings, "gpus_per_worker", 1) or 1, env, gpus)


def worker_index(worker_id: str | None) -> int | None:
    """``gw3`` -> 3; the controller or a run without xdist (None, "master") -> None."""
    m = _WORKER.match(worker_id or "")
    return int(m.group(1)) if m else None


def pin_worker(worker_id: str | None, gpus_per_worker: int = 1, env: Mapping[str, str] | None = None,
               gpus: Sequence[str] | None = None) -> str | None:
    """The CUDA_VISIBLE_DEVICES value for a worker, or None to leave the environment alone
    (not an xdist worker, or no GPU).

    Worker ``gwN`` takes the N-th group of ``gpus_per_worker`` GPUs; more workers than groups wrap
    around (they share GPUs rather than fail), and leftover GPUs that do not fill a group go unused.
    """
    g = _check(gpus_per_worker)
    idx = worker_index(worker_id)
    if idx is None:
        return None
    gpus = visible_gpus(env) if gpus is None else list(gpus)
    if not gpus:
        return None
    groups = max(1, len(gpus) // g)
    start = (idx % groups) * g
    return ",".join(gpus[start:start + g])


def cpu_threads_per_worker(env: Mapping[str, str] | None = None) -> int | None:
    """Torch threads for a CPU worker so that xdist workers do not oversubscribe the cores
    (each would otherwise start one thread per core). None outside xdist."""
    env = os.environ if env is None else env
    try:
        n = int(env.get("PYTEST_XDIST_WORKER_COUNT", ""))
    except ValueError:
        return None
    return max(1, cpu_count() // n) if n > 1 else None


def _check(gpus_per_worker) -> int:
    g = 1 if gpus_per_worker is None else int(gpus_per_worker)
    if g < 1:
        raise ValueError(f"gpus_per_worker must be at least 1, got {gpus_per_worker}")
    return g
