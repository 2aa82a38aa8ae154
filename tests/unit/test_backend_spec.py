"""The --trust-model grammar and what each spec makes, without loading a model."""
import os
import subprocess
import sys

import pytest

from pytest_trustllm.generation.backends import BackendError, make_backend, parse_model_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("spec, parsed", [
    ("gpt-4", ("openai", "gpt-4")),
    ("gpt-4o", ("openai", "gpt-4o")),
    ("gpt-3.5-turbo", ("openai", "gpt-3.5-turbo")),
    ("o1-mini", ("openai", "o1-mini")),
    ("openai:my-model", ("openai", "my-model")),
    ("openai:org/model:tag", ("openai", "org/model:tag")),
    ("hf:meta-llama/Llama-2-7b-chat-hf", ("hf", "meta-llama/Llama-2-7b-chat-hf")),
    ("hf:/models/ckpt", ("hf", "/models/ckpt")),
    ("smollm2", ("smollm2", "")),
    ("smollm2:hf", ("smollm2", "hf")),
    ("llamacpp:/models/m.Q4_K_M.gguf", ("llamacpp", "/models/m.Q4_K_M.gguf")),
    ("replay", ("replay", "")),
    (" replay:out.jsonl ", ("replay", "out.jsonl")),
])
def test_parse_model_spec(spec, parsed):
    assert parse_model_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["", "llama-2", "hff:x"])
def test_unknown_spec_names_the_valid_forms(spec):
    with pytest.raises(BackendError) as e:
        parse_model_spec(spec)
    assert "hf:" in str(e.value) or "empty" in str(e.value)


def test_official_openai_needs_a_key_named_in_the_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        make_backend("gpt-4o", {})
    monkeypatch.setenv("MY_KEY", "sk-secret-value-123")
    with pytest.raises(BackendError, match="MY_OTHER_KEY"):
        make_backend("gpt-4o", {"api_key_env": "MY_OTHER_KEY"})


def test_openai_identity_and_repr_never_hold_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    b = make_backend("gpt-4o", {"max_new_tokens_cap": 256})
    assert b.identity == {"backend": "openai", "model": "gpt-4o", "base_url": "https://api.openai.com/v1",
                          "max_new_tokens_cap": 256}
    assert "sk-secret" not in repr(b) and "sk-secret" not in repr(vars(b))


def test_openai_compatible_base_url_from_option_or_env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env-host:8000/v1")
    b = make_backend("openai:served", {})
    assert b.identity["base_url"] == "http://env-host:8000/v1"
    b = make_backend("openai:served", {"base_url": "http://user:pw@vllm:8000/v1/?token=x"})
    assert b.identity["base_url"] == "http://vllm:8000/v1"        # no credentials, no query
    assert b.identity["model"] == "served"
    with pytest.raises(BackendError, match="model name"):
        make_backend("openai:", {"base_url": "http://vllm:8000/v1"})


def test_bad_options_are_clear(monkeypatch):
    with pytest.raises(BackendError, match="concurrency"):
        make_backend("openai:m", {"base_url": "http://h/v1", "concurrency": -1})
    with pytest.raises(BackendError, match="hf: needs a model"):
        make_backend("hf:", {})
    with pytest.raises(BackendError, match="smollm2 takes an engine or nothing: .*smollm2:hf.*smollm2:llamacpp"):
        make_backend("smollm2:big", {})
    with pytest.raises(BackendError, match="llamacpp: needs a GGUF file"):
        make_backend("llamacpp:", {})


def test_missing_local_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)   # read once at import: the env var may be too late
    with pytest.raises(BackendError) as e:
        make_backend(f"hf:{tmp_path}/no-such-model", {})
    assert f"no model folder at {tmp_path}/no-such-model" in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackendError, match="no config.json"):
        make_backend(f"hf:{empty}", {})
    with pytest.raises(BackendError, match="not in the local Hugging Face cache"):
        make_backend("hf:some-org/no-such-model-xyz", {})   # offline: no network wait


def test_missing_extra_names_the_install_line():
    # torch hidden: the factory must answer with the exact pip line, not an ImportError
    code = ("import sys; sys.modules['torch'] = None\n"
            "from pytest_trustllm.generation.backends import make_backend, BackendError\n"
            "try:\n    make_backend('hf:x/y', {})\nexcept BackendError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "pip install 'pytest-trustllm[local]'" in out.stdout, out.stderr


def test_importing_backends_stays_light():
    code = ("import sys, pytest_trustllm, pytest_trustllm.generation.backends, pytest_trustllm.generation.generate, "
            "pytest_trustllm.generation.backends.gpus, pytest_trustllm.generation.backends.retry\n"
            "print(sorted(m for m in ('torch', 'transformers', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
