"""pytest-trustllm: TrustLLM trust checks as pytest tests.

Installed, ``pytest --trust-model=SPEC -m fairness`` runs the built-in TrustLLM suites (shipped in the
package, see ``--trust-suites``) in any folder. Importing the package is cheap: torch, transformers and
openai load only inside the backend or judge that needs them.

The public API for your own trust tests and suites is imported here (``__all__``): ``Score`` and its
constructors ``passed`` / ``violated`` / ``dropped``; the registration decorators ``item_scorer`` /
``batch_scorer`` (a suite's ``scorer: {name: ...}``) and ``reduction`` (a metric's ``reduce:``);
``suite_records`` (a suite's records for ``@pytest.mark.parametrize``); ``keyword_refusal`` (the generic refusal
rule as a function returning a ``Score``); and the ``assert_*`` helpers, which return the ``Score`` they checked.
"""
from pytest_trustllm.scoring.asserts import *  # noqa: F401,F403  (every helper is listed in asserts.__all__)
from pytest_trustllm.scoring.asserts import __all__ as _asserts
from pytest_trustllm.metrics.core import MetricValue, reduction
from pytest_trustllm.scoring.scorers.base import ScoringContext, Unscored, batch_scorer, item_scorer
from pytest_trustllm.scoring.scorers.generic import keyword_refusal
from pytest_trustllm.types import Score, dropped, passed, violated
from pytest_trustllm.version import __version__

__all__ = ["MetricValue", "Score", "ScoringContext", "Unscored", "__version__", "batch_scorer", "dropped",
           "item_scorer", "keyword_refusal", "passed", "reduction", "suite_records", "violated", *_asserts]


def suite_records(suite_path, data_dir=None):
    """A suite's records as ``pytest.param`` values for ``@pytest.mark.parametrize``."""
    from pytest_trustllm.plugin.fixtures import suite_records as _records

    return _records(suite_path, data_dir)
