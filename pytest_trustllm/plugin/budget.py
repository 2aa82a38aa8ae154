"""``--trust-budget`` in a pytest run: validates the budget and prices up front, prints the run's
estimate after collection, gives each process's batches a guard over the run's shared ledger, and
adds the spend (model and judges apart) to the results and the terminal. The arithmetic lives in
``budget``; this module only wires it to the run."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, Mapping, Sequence

import pytest

from pytest_trustllm.generation.budget import (BUDGET_REACHED, Budget, BudgetError, BudgetGuard, Coster, Ledger, Price, approx_prompt_tokens,
                     estimate, is_free, judges_spend, load_prices, model_spend, parse_budget, price_for,
                     token_counter, usd)
from pytest_trustllm.plugin.session import is_worker


class BudgetPlugin:
    """Registered by the plugin when ``--trust-budget`` or ``--trust-prices`` is set."""

    def __init__(self, state: Any) -> None:
        self.state = state
        s = state.settings
        try:
            self.budget: Budget | None = parse_budget(s.budget) if s.budget else None
            self.prices: dict[str, Price] = load_prices(s.prices)
        except BudgetError as e:
            raise pytest.UsageError(f"--trust-budget: {e}") from None
        if self.budget and self.budget.kind == "usd":
            unpriced = [m for m in s.model if not is_free(m) and price_for(m, self.prices) is None]
            if unpriced:
                raise pytest.UsageError(
                    f"--trust-budget={self.budget}: no price for {', '.join(unpriced)}; add it to a prices file "
                    "({\"models\": {\"NAME\": {\"input\": USD per 1M tokens, \"output\": USD per 1M tokens}}}) "
                    "and pass --trust-prices=FILE, or budget in tokens:N")
        config = state.config
        if is_worker(config):
            self.ledger_path = config.workerinput.get("trust_budget_ledger")
        else:
            self.ledger_path = os.path.join(tempfile.mkdtemp(prefix="trustllm-budget-"), "ledger.sqlite")
        self._ledger: Ledger | None = None
        self._guards: dict[str, BudgetGuard | None] = {}
        self.estimate: dict[str, Any] = {}
        self.estimate_lines: list[str] = []
        state.runtime.budget = self  # the batches ask it for their guard

    # -- the guard a batch generates under -------------------------------------------------
    def guard(self, spec: str, backend: Any) -> BudgetGuard | None:
        if self.budget is None or is_free(spec) or not self.ledger_path:
            return None
        if spec not in self._guards:
            if self._ledger is None:
                self._ledger = Ledger(self.ledger_path, self.budget.limit)
            count, _ = token_counter(backend)
            self._guards[spec] = BudgetGuard(self._ledger, Coster(self.budget.kind, price_for(spec, self.prices)),
                                             count)
        return self._guards[spec]

    # -- the estimate, after collection ------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        from pytest_trustllm.plugin.collect import TrustItem
        from pytest_trustllm.generation.execute import build_request
        from pytest_trustllm.generation.repeats import effective_repeats

        s = self.state.settings
        by_model: dict[str, list] = {}
        for it in items:
            if isinstance(it, TrustItem) and it.model is not None and not is_free(it.model):
                k = effective_repeats(s.repeats, it.suite.generation.temperature)
                by_model.setdefault(it.model, []).extend(
                    build_request(it.suite, it.spec, cap=s.max_new_tokens, seed=s.seed, repeat=r) for r in range(k))
        self.estimate = {}
        for spec, requests in by_model.items():
            count, how = _estimate_counter(spec)
            e = estimate(_unique(requests), count, price_for(spec, self.prices))
            e["counted_by"] = how
            self.estimate[spec] = e
        self.estimate_lines = estimate_lines(self.estimate, self.budget)
        if is_worker(config) and os.environ.get("PYTEST_XDIST_WORKER") == "gw0":
            # workers collect identical items; one says it (stderr reaches the terminal under xdist)
            sys.stderr.write("".join(line + "\n" for line in self.estimate_lines))

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        return self.estimate_lines

    # -- xdist -----------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["trust_budget_ledger"] = self.ledger_path

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        out = (getattr(node, "workeroutput", {}) or {}).get("trust_budget")
        if out and not self.estimate:
            self.estimate = json.loads(out)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if is_worker(session.config):
            session.config.workeroutput["trust_budget"] = json.dumps(self.estimate)

    def pytest_unconfigure(self) -> None:
        if self._ledger is not None:
            self._ledger.close()

    # -- the results -----------------------------------------------------------------------
    def results_block(self, suites: Sequence[Mapping[str, Any]], judges: Sequence[Mapping[str, Any]],
                      collector: Any) -> tuple[dict, list[str]]:
        models = model_spend(suites, self.prices)
        judge_spend = judges_spend(judges, self.prices)
        unsent = {(p["suite"], p.get("model"), p["id"]) for *_, payloads in collector.groups()
                  for p in payloads if p["outcome"] == "skip" and p.get("message") == BUDGET_REACHED}
        skipped = len(unsent)
        mark_incomplete(suites, unsent, self.state.settings.incomplete)
        block = {"limit": str(self.budget) if self.budget else None, "estimate": self.estimate,
                 "spent": {"model": models, "judges": judge_spend},
                 "stopped": skipped > 0, "skipped": skipped}
        return block, spend_lines(block)


def mark_incomplete(suites: Sequence[Mapping[str, Any]], unsent: set[tuple[str, Any, str]],
                    on_incomplete: str = "fail") -> None:
    """A gate whose metric misses items the budget never generated has no verdict: incomplete."""
    for s in suites:
        n = sum(1 for r in s["records"] if (s["id"], s["model"], r["id"]) in unsent)
        if not n:
            continue
        for m in s["metrics"]:
            g = m.get("gate")
            if g and m.get("incomplete"):
                value = "none" if m["value"] is None else f"{m['value']:.3f}"
                g["verdict"], g["on_incomplete"] = "incomplete", on_incomplete
                g["fails"] = on_incomplete == "fail"
                g["reason"] = (f"{m['name']} incomplete: {n} item(s) skipped '{BUDGET_REACHED}' (value so far "
                               f"{value}, n={m['n']}; gate {g['op']} {g['threshold']:g})")


def _unique(requests: Sequence[Any]) -> list[Any]:
    """Suites over the same prompts share their responses (the cache): count each prompt once."""
    seen, out = set(), []
    for r in requests:
        key = (r.messages, r.temperature, r.max_new_tokens, r.seed if r.temperature > 0 else None)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _estimate_counter(spec: str):
    """Before any model is loaded: a local model's own tokenizer when it loads offline (tokenizer
    files only), else the approximation."""
    from pytest_trustllm.generation.backends.base import BackendError, parse_model_spec

    try:
        scheme, arg = parse_model_spec(spec)
    except BackendError:
        scheme, arg = "", ""
    if scheme == "hf" and arg:
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(arg)
        except Exception:  # noqa: BLE001 - no tokenizer here: the approximation says so
            tok = None
        if tok is not None:
            def count(req) -> int:
                msgs = [{"role": m.role, "content": m.content} for m in req.messages]
                if getattr(tok, "chat_template", None):
                    return len(tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True,
                                                       return_dict=False))
                return len(tok("\n\n".join(m["content"] for m in msgs))["input_ids"])
            return count, "model tokenizer"
    return (lambda req: approx_prompt_tokens(req.messages)), "approximation (4 chars/token)"


def estimate_lines(est: Mapping[str, Any], budget: Budget | None) -> list[str]:
    out = []
    for spec, e in est.items():
        cost = f", {usd(e.get('usd_prompt'))} prompt, at most {usd(e.get('usd_max'))}" if "usd_max" in e else ""
        out.append(f"trustllm estimate [{spec}]: {e['requests']} requests, {e['prompt_tokens']} prompt tokens "
                   f"({e['counted_by']}), at most {e['completion_tokens_max']} completion tokens{cost}")
    if budget is not None:
        out.append(f"trustllm budget: {budget} (cached responses are free; generation stops at the first request "
                   "that might not fit)")
    return out


def spend_lines(block: Mapping[str, Any]) -> list[str]:
    out = []
    for who, part in (("model", block["spent"]["model"]), ("judge", block["spent"]["judges"])):
        for name, sp in part.items():
            out.append(f"spend {who} [{name}]: {sp['prompt_tokens']} prompt + {sp['completion_tokens']} completion "
                       f"tokens, {usd(sp['usd'])}")
    if block["limit"]:
        stop = (f"; stopped: {block['skipped']} item(s) skipped '{BUDGET_REACHED}' (rerun with a larger budget "
                "to generate only those)" if block["stopped"] else "")
        out.append(f"budget {block['limit']}{stop}")
    return out
