"""GPU pinning helpers: worker counts for -n auto and CUDA_VISIBLE_DEVICES per worker."""
import os
import stat
import sys

import pytest

from pytest_trustllm.generation.backends import gpus


def test_visible_gpus_from_cuda_visible_devices():
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1,3"}) == ["0", "1", "3"]
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}) == ["GPU-aa", "GPU-bb"]
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert gpus.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,-1,3"}) == ["2"]   # CUDA stops at an invalid id


def _fake_nvidia_smi(tmp_path, lines):
    exe = tmp_path / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + "".join(f"echo '{line}'\n" for line in lines))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


@pytest.mark.skipif(sys.platform == "win32", reason="shell script stands in for nvidia-smi")
def test_visible_gpus_from_nvidia_smi(tmp_path):
    exe = _fake_nvidia_smi(tmp_path, [
        "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)",
        "  MIG 1g.10gb Device 0: (UUID: MIG-1)",
        "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)",
    ])
    assert gpus.visible_gpus({}, nvidia_smi=exe) == ["0", "1"]
    assert gpus.visible_gpus({}, nvidia_smi=str(tmp_path / "missing")) == []


def test_auto_workers_counts_gpu_groups():
    assert gpus.auto_workers(1, env={}, gpus=["0", "1", "2", "3"]) == 4
    assert gpus.auto_workers(2, env={}, gpus=["0", "1", "2", "3", "4"]) == 2
    assert gpus.auto_workers(4, env={}, gpus=["0", "1"]) == 1           # a too-large group still runs
    assert gpus.auto_workers(1, env={"CUDA_VISIBLE_DEVICES": "5,7"}) == 2


def _pinned(n: int, code: str) -> list[str]:
    """Run ``code`` in a subprocess pinned to ``n`` of this process's CPUs (as taskset pins it)."""
    import subprocess
    cpus = sorted(os.sched_getaffinity(0))[:n]
    prog = f"import os; os.sched_setaffinity(0, {cpus!r}); from pytest_trustllm.generation.backends import gpus; {code}"
    return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__)))).stdout.split()


needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                                    reason="needs os.sched_setaffinity (Linux) to pin the CPUs")


@needs_affinity
def test_auto_workers_without_gpu_uses_the_pinned_cpus():
    """The CPU count is the affinity mask's (a container or taskset), known here because it is set."""
    no_gpu = 'print(gpus.auto_workers(1, env={"CUDA_VISIBLE_DEVICES": ""}))'
    assert _pinned(1, no_gpu) == ["1"]
    if len(os.sched_getaffinity(0)) >= 2:
        assert _pinned(2, no_gpu) == ["2"]


def test_auto_workers_env_override():
    assert gpus.auto_workers(1, env={"PYTEST_XDIST_AUTO_NUM_WORKERS": "3"}, gpus=["0"]) == 3


def test_auto_num_workers_for_the_xdist_hook():
    class S:
        gpus_per_worker = 2
    assert gpus.auto_num_workers(S(), env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"}) == 2
    assert gpus.auto_num_workers(S(), env={"CUDA_VISIBLE_DEVICES": ""}) is None   # xdist's CPU rule
    assert gpus.auto_num_workers(S(), env={"CUDA_VISIBLE_DEVICES": "0", "PYTEST_XDIST_AUTO_NUM_WORKERS": "5"}) is None


def test_pin_worker_gives_disjoint_groups():
    ids = ["0", "1", "2", "3"]
    pins = [gpus.pin_worker(f"gw{i}", 1, gpus=ids) for i in range(4)]
    assert pins == ["0", "1", "2", "3"]
    assert [gpus.pin_worker(f"gw{i}", 2, gpus=ids) for i in range(2)] == ["0,1", "2,3"]
    # pins are taken from the parent's own CUDA_VISIBLE_DEVICES, not physical indices
    assert gpus.pin_worker("gw1", 1, env={"CUDA_VISIBLE_DEVICES": "4,6"}) == "6"


def test_pin_worker_wraps_and_leaves_non_workers_alone():
    assert gpus.pin_worker("gw5", 1, gpus=["0", "1"]) == "1"           # more workers than GPUs: share
    assert gpus.pin_worker("gw2", 2, gpus=["0", "1", "2"]) == "0,1"     # the odd GPU stays unused
    assert gpus.pin_worker(None, 1, gpus=["0"]) is None
    assert gpus.pin_worker("master", 1, gpus=["0"]) is None
    assert gpus.pin_worker("gw0", 1, gpus=[]) is None
    with pytest.raises(ValueError):
        gpus.pin_worker("gw0", 0, gpus=["0"])


def test_cpu_threads_per_worker():
    assert gpus.cpu_threads_per_worker({}) is None
    assert gpus.cpu_threads_per_worker({"PYTEST_XDIST_WORKER_COUNT": "1"}) is None


@needs_affinity
def test_cpu_threads_per_worker_splits_the_pinned_cpus():
    threads = 'print(gpus.cpu_threads_per_worker({"PYTEST_XDIST_WORKER_COUNT": "2"}))'
    assert _pinned(1, threads) == ["1"]  # never 0 threads
    if len(os.sched_getaffinity(0)) >= 4:
        assert _pinned(4, threads) == ["2"]
        assert _pinned(3, threads) == ["1"]  # 3 CPUs, 2 workers: 1 each, none oversubscribed


def test_gpus_module_does_not_import_torch():
    import subprocess
    code = "import sys; import pytest_trustllm.generation.backends.gpus as g; g.auto_workers(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.stdout.strip() == "False"
