"""Per-process run state (one per pytest process; on xdist, one per worker): the backends (a
model is loaded once per process), the response cache, the judges and the generation counters."""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from pytest_trustllm.generation.backends.base import Backend, make_backend
from pytest_trustllm.generation.cache import ResponseCache
from pytest_trustllm.generation.generate import GenerationStats
from pytest_trustllm.scoring.judges.base import Judges, LazyJudges
from pytest_trustllm.settings import Settings
from pytest_trustllm.suite.paths import DataLocator


def backend_options(s: Settings) -> dict[str, Any]:
    return {
        "base_url": s.base_url, "concurrency": s.concurrency, "timeout_s": s.timeout, "max_retries": s.retries,
        "batch_size": s.batch_size, "device": s.device, "dtype": s.dtype, "api_key_env": s.api_key_env,
        "max_new_tokens_cap": s.max_new_tokens,
        "gpus_per_worker": s.gpus_per_worker, "seed": s.seed,
    }


class Runtime:
    def __init__(self, settings: Settings, rootdir: Path, hook: Any = None, session_cache: str | None = None,
                 data: DataLocator | None = None) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self.hook = hook
        self._backends: dict[str, Backend] = {}
        self._judges: Judges | None = None
        self._cache: ResponseCache | None = None
        self._cache_opened = False
        self.session_cache = session_cache
        self.stats: dict[str, GenerationStats] = {}
        self.data = data or DataLocator(settings.data, settings.recorded)
        self.refusal_choice: str | None = None  # --trust-refusal=auto, resolved once on the controller
        self.lock = threading.Lock()
        self.budget: Any = None  # budget_run.BudgetPlugin under --trust-budget
        self.sequential: Any = None  # sequential_run.SequentialPlugin under --trust-sequential

    def budget_guard(self, spec: str, backend: Backend) -> Any:
        return self.budget.guard(spec, backend) if self.budget is not None else None

    # -- model backends --------------------------------------------------------------------
    def backend(self, spec: str) -> Backend:
        if spec not in self._backends:
            options = backend_options(self.settings)
            made = self.hook.pytest_trust_make_backend(spec=spec, options=options) if self.hook else None
            self._backends[spec] = made if made is not None else make_backend(spec, options)
        return self._backends[spec]

    def model_stats(self, spec: str) -> GenerationStats:
        return self.stats.setdefault(spec, GenerationStats())

    # -- response cache --------------------------------------------------------------------
    def cache_path(self) -> Path | None:
        mode = self.settings.cache
        if mode == "off":
            # still dedupe within the run (toxicity reuses jailbreak responses, also across workers)
            return Path(self.session_cache) if self.session_cache else None
        if mode == "refresh":
            return self.rootdir / ".trustllm-cache" / "responses.sqlite"
        p = Path(mode)
        return p if p.is_absolute() else self.rootdir / p

    def cache(self) -> ResponseCache | None:
        if not self._cache_opened:
            self._cache_opened = True
            path = self.cache_path()
            if path is not None:
                self._cache = ResponseCache(path, refresh=self.settings.cache == "refresh")
        return self._cache

    # -- judges ----------------------------------------------------------------------------
    def judge_options(self) -> dict[str, Any]:
        cache = self.cache_path()
        s = self.settings
        return {
            "refusal": self.refusal_choice or s.refusal, "judge": s.judge, "toxicity": s.toxicity,
            "embedder": s.embedder, "device": s.device, "cache_path": str(cache) if cache else None,
            "cache_refresh": s.cache == "refresh", "rules": s.rules, "backend_options": backend_options(s),
            "hook": self.hook, "data_dir": str(d) if (d := self.data.known_dir()) else None,
        }

    def judges(self) -> Judges:
        """Each judge is built on first use, through the ``pytest_trust_make_judge`` hook or the registry."""
        if self._judges is None:
            options = self.judge_options()

            def make(kind: str):
                if self.hook is not None:
                    made = self.hook.pytest_trust_make_judge(kind=kind, options=options)
                    if made is not None:
                        return made
                from pytest_trustllm.scoring.judges.registry import make_judge

                return make_judge(kind, options)

            self._judges = LazyJudges(make)
        return self._judges

    def close(self) -> None:
        for b in self._backends.values():
            try:
                b.close()
            except Exception:  # noqa: BLE001 - closing must not mask the run's result
                pass
        if self._cache is not None:
            self._cache.close()


def session_cache_path() -> str:
    """A throwaway cache for ``--trust-cache=off`` runs, shared by the run's workers."""
    return os.path.join(tempfile.mkdtemp(prefix="trustllm-run-"), "responses.sqlite")
