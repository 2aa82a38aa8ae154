"""Every ``--trust-*`` option with its ini twin (``OPTIONS``), and the frozen ``Settings`` they resolve to.

Pure: the pytest layer (``plugin/options.py``) reads the command line and ini file and turns a
``SettingsError`` into pytest's usage error; ``merge`` and the programmatic API build ``Settings`` directly.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable


class SettingsError(ValueError):
    """An option value that cannot be used; the message names the option and the valid values."""


RULES = ("paper", "toolkit")
GATE_MODES = ("point", "confident")
INCONCLUSIVE = ("fail", "warn")
INCOMPLETE = ("fail", "warn")
REFUSAL = ("auto", "longformer", "offline", "recorded", "judge", "keyword", "off", "none")
TOXICITY = ("auto", "perspective", "profanity", "recorded", "off", "none")
EMBEDDER = ("auto", "openai", "minilm", "recorded")


@dataclass(frozen=True)
class Option:
    name: str  # the part after --trust-
    help: str
    default: Any = None
    kind: str = "str"  # str | int | float | bool | choice | path | list
    choices: tuple[str, ...] = ()
    env: str | None = None
    check: Callable[[Any], str | None] | None = None  # returns an error message or None

    @property
    def flag(self) -> str:
        return f"--trust-{self.name}"

    @property
    def ini(self) -> str:
        return "trust_" + self.name.replace("-", "_")

    @property
    def dest(self) -> str:
        return "trust_" + self.name.replace("-", "_")


def _positive(v: Any) -> str | None:
    return None if v is None or v > 0 else "must be a positive number"


def _shard(v: Any) -> str | None:
    if v is None:
        return None
    try:
        k, n = (int(x) for x in str(v).split("/"))
    except ValueError:
        return "must look like K/N, e.g. 1/3"
    return None if 1 <= k <= n else "needs 1 <= K <= N"


def _budget(v: Any) -> str | None:
    from pytest_trustllm.generation.budget import budget_check

    return budget_check(v)


OPTIONS: tuple[Option, ...] = (
    Option("model", "model to test: gpt-4o, openai:NAME, hf:ID_OR_PATH, llamacpp:PATH.gguf, smollm2[:hf|:llamacpp], "
           "replay, replay:FILE (repeat to compare models)", kind="list"),
    Option("data", "folder of the TrustLLM dataset files (default: $TRUSTLLM_DATA, else the pinned official "
           "dataset, downloaded once and verified)", kind="path", env="TRUSTLLM_DATA"),
    Option("rules", "scoring rules: paper (reproduces the published numbers) or toolkit (the released "
           "TrustLLM package)", "paper", "choice", RULES),
    Option("sample", "keep N records per suite (seeded, stratified, groups kept whole)", kind="int", check=_positive),
    Option("seed", "seed for --trust-sample and sampling generation", 0, "int"),
    Option("strict", "fail every violating item, even in suites with gates", False, "bool"),
    Option("report", "write the results JSON to PATH", kind="path"),
    Option("thresholds", "YAML file of gate thresholds: {suite_id: {metric: threshold}}", kind="path"),
    Option("cache", "response cache: a PATH, 'off' or 'refresh'", ".trustllm-cache/responses.sqlite", "str"),
    Option("batch-size", "local model batch size", 8, "int", check=_positive),
    Option("concurrency", "API requests in flight", 16, "int", check=_positive),
    Option("max-new-tokens", "cap every suite's max new tokens (part of the model identity)", kind="int",
           check=_positive),
    Option("device", "device for local models and judges (default: cuda when available)", "auto", "str"),
    Option("dtype", "local model weights: auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16, float16",
           "auto", "choice", ("auto", "float32", "bfloat16", "float16")),
    Option("base-url", "OpenAI-compatible server URL for openai:NAME models", kind="str", env="OPENAI_BASE_URL"),
    Option("api-key-env", "environment variable that holds the API key of openai:NAME models", "OPENAI_API_KEY",
           "str"),
    Option("timeout", "per-request timeout in seconds for API models", 120.0, "float", check=_positive),
    Option("retries", "retries per API request", 6, "int"),
    Option("gpus-per-worker", "GPUs per xdist worker (models that need several GPUs)", 1, "int", check=_positive),
    Option("refusal", "refusal classifier (NAME or NAME:ARG, e.g. longformer:/models/lf)", "auto", "choice",
           REFUSAL),
    Option("judge", "LLM judge model spec (same grammar as --trust-model)", kind="str"),
    Option("toxicity", "toxicity scorer", "auto", "choice", TOXICITY),
    Option("embedder", "embedding model", "auto", "choice", EMBEDDER),
    Option("gate", "gate mode: point (value vs threshold) or confident (the whole 95% interval)", "point",
           "choice", GATE_MODES),
    Option("inconclusive", "what an inconclusive confident gate does", "fail", "choice", INCONCLUSIVE),
    Option("alpha", "significance level for baseline regressions and sequential gates", 0.05, "float"),
    Option("baseline", "compare with the per-item outcomes saved at PATH", kind="path"),
    Option("save-baseline", "save per-item outcomes to PATH", kind="path"),
    Option("shard", "run shard K/N of every suite", kind="str", check=_shard),
    Option("html", "write a self-contained HTML report to PATH", kind="path"),
    Option("allow-modified-data", "run although data files differ from their pinned checksums", False, "bool"),
    Option("progress", "print generation progress (auto: when generating more than a few items)", "auto",
           "choice", ("auto", "on", "off")),
    Option("suites", "the built-in TrustLLM suites: auto (collected when --trust-model is given and no path is "
           "named), trustllm (always), none, or a folder of suite files to collect as well", "auto", "str"),
    Option("incomplete", "what an incomplete gate (no scored item behind its metric) does to the run: fail or "
           "warn", "fail", "choice", INCOMPLETE),
    Option("budget", "cap what the run may spend on generation: tokens:N or usd:X (cached responses are free; "
           "items past the cap are skipped 'budget reached' and a rerun with a larger budget resumes)",
           kind="str", check=_budget),
    Option("prices", "JSON or YAML price table (USD per 1M input/output tokens per model) over the shipped one",
           kind="path"),
    Option("repeats", "generate each item of a sampling suite (temperature > 0) K times with derived seeds; "
           "an item passes when every repeat passes, items whose repeats disagree are reported as flipping",
           1, "int", check=_positive),
    Option("calibration", "attach a refusal judge's calibration figures to the results JSON: a FILE written by "
           "`python -m pytest_trustllm calibrate --out FILE`, or 'shipped' (the shipped figures of the run's "
           "refusal classifier)", kind="str"),
    Option("sequential", "run each suite's items in seeded random order, in batches, and stop generating once "
           "all its gates are decided by an anytime-valid confidence sequence at --trust-alpha", False, "bool"),
)
BY_NAME = {o.name: o for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    model: tuple[str, ...] = ()
    data: str | None = None
    rules: str = "paper"
    sample: int | None = None
    seed: int = 0
    strict: bool = False
    report: str | None = None
    thresholds: str | None = None
    cache: str = ".trustllm-cache/responses.sqlite"
    batch_size: int = 8
    concurrency: int = 16
    max_new_tokens: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 120.0
    retries: int = 6
    gpus_per_worker: int = 1
    refusal: str = "auto"
    judge: str | None = None
    toxicity: str = "auto"
    embedder: str = "auto"
    gate: str = "point"
    inconclusive: str = "fail"
    alpha: float = 0.05
    baseline: str | None = None
    save_baseline: str | None = None
    shard: str | None = None
    html: str | None = None
    allow_modified_data: bool = False
    progress: str = "auto"
    suites: str = "auto"
    incomplete: str = "fail"
    budget: str | None = None
    prices: str | None = None
    repeats: int = 1
    calibration: str | None = None
    sequential: bool = False
    suite_dirs: tuple[str, ...] = ("suites",)
    recorded: str | None = None  # --trust-model=replay:FOLDER: suites read that folder of recorded generations
    threshold_overrides: tuple[tuple[str, str, str | None, float], ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = list(self.model)
        d.pop("threshold_overrides")
        return d

    @property
    def shard_pair(self) -> tuple[int, int] | None:
        if not self.shard:
            return None
        k, n = (int(x) for x in self.shard.split("/"))
        return k, n


def convert(o: Option, raw: Any, source: str) -> Any:
    if raw is None:
        return None
    try:
        if o.kind == "int":
            value = int(raw)
        elif o.kind == "float":
            value = float(raw)
        elif o.kind == "bool":
            value = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
        elif o.kind == "list":
            value = tuple(str(x) for x in (raw if isinstance(raw, (list, tuple)) else str(raw).split()))
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: {raw!r} is not a valid {o.kind}") from None
    if o.choices and str(value).split(":", 1)[0] not in o.choices:
        raise SettingsError(f"{source}: invalid value {value!r}; valid values: {', '.join(o.choices)}")
    if o.check:
        problem = o.check(value)
        if problem:
            raise SettingsError(f"{source}: {raw!r} {problem}")
    return value


def settings_from(values: dict[str, Any]) -> Settings:
    """``values``: every option's converted value (by ``Settings`` field name); applies what one option
    implies for others (a replay folder's recorded labels)."""
    values = dict(values)
    _use_recorded_folder(values)
    return Settings(**values)


RECORDED_LABELS = ("refusal", "toxicity", "embedder")


def _use_recorded_folder(values: dict[str, Any]) -> None:
    """``--trust-model=replay:FOLDER`` (a folder laid out like the dataset, as the TrustLLM toolkit writes
    its generations): the suites read their records, responses and recorded labels from it, and the
    judges left at ``auto`` use the labels recorded beside the responses."""
    folders = [spec.partition(":")[2] for spec in values["model"]
               if spec.startswith("replay:") and os.path.isdir(os.path.expanduser(spec.partition(":")[2]))]
    if not folders:
        return
    if len(set(folders)) > 1:
        raise SettingsError("--trust-model: one replay:FOLDER per run (the suites read their records from it)")
    values["recorded"] = os.path.abspath(os.path.expanduser(folders[0]))
    for kind in RECORDED_LABELS:
        if values[kind] == "auto":
            values[kind] = "recorded"


def threshold_lines(lines: list[str]) -> list[tuple[str, str, str | None, float]]:
    """ini ``trust_gate_thresholds`` lines: ``SUITE_ID.METRIC [OP] THRESHOLD``."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) not in (2, 3) or "." not in parts[0]:
            raise SettingsError(f"ini trust_gate_thresholds: {line!r} should look like "
                                    "'trustllm/safety/jailbreak.rta >= 0.9'")
        suite, _, metric = parts[0].rpartition(".")
        op = parts[1] if len(parts) == 3 else None
        if op is not None and op not in (">=", ">", "<=", "<"):
            raise SettingsError(f"ini trust_gate_thresholds: invalid operator {op!r}; valid: >=, >, <=, <")
        try:
            thr = float(parts[-1])
        except ValueError:
            raise SettingsError(f"ini trust_gate_thresholds: {parts[-1]!r} is not a number") from None
        out.append((suite, metric, op, thr))
    return out
