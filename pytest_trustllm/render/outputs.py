"""Files written from a run's final results besides the results JSON: the baseline for the next
release (``--trust-save-baseline``) and the HTML report (``--trust-html``). Used by the live run and by
``python -m pytest_trustllm merge``."""
from __future__ import annotations

from typing import Any, Mapping

from pytest_trustllm.render.html import write_html
from pytest_trustllm.verdict.baseline import save_baseline as save


def write_outputs(settings: Any, results: Mapping[str, Any], html: str | None = None,
                  save_baseline: str | None = None) -> list[str]:
    """Files written from the final results: the baseline and the HTML report; returns terminal lines."""
    lines = []
    target = save_baseline if save_baseline is not None else settings.save_baseline
    if target:
        n = save(target, results)
        lines.append(f"baseline saved: {target} ({n} items)")
    page = html if html is not None else settings.html
    if page:
        write_html(page, results)
        lines.append(f"HTML report: {page}")
    return lines
