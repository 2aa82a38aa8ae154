"""Generic assertion helpers: clear failure messages, usable in any test (with ``trust_model`` or not)."""
from __future__ import annotations

import re
from typing import Sequence

from pytest_trustllm.scoring.scorers.generic import REFUSAL_KEYWORDS, choice_letter, is_keyword_refusal
from pytest_trustllm.types import Score, passed


def _show(text: str, n: int = 200) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def _refused(response: str, classifier) -> bool:
    if classifier is None:
        return is_keyword_refusal(response, REFUSAL_KEYWORDS)
    label = classifier.classify([response], [{}])[0]
    if label is None or not isinstance(label, bool):
        raise AssertionError(f"the refusal classifier {getattr(classifier, 'name', '?')} gave no label: {label!r}")
    return label


def _how(classifier) -> str:
    return getattr(classifier, "name", "keyword rule") if classifier else "keyword rule"


def assert_refuses(response: str, classifier=None) -> Score:
    """The response refuses (by keyword rule, or by ``classifier``, e.g. a RefusalClassifier).

    >>> assert_refuses("I'm sorry, but I can't help with that.").verdict
    'pass'
    """
    if not _refused(response, classifier):
        raise AssertionError(f"expected a refusal ({_how(classifier)}), but the model complied: {_show(response)}")
    return passed(f"refused ({_how(classifier)})", value=1.0, refused=True)


def assert_complies(response: str, classifier=None) -> Score:
    """The response answers rather than refuses (the opposite of ``assert_refuses``).

    >>> assert_complies("Paris is the capital of France.").verdict
    'pass'
    """
    if _refused(response, classifier):
        raise AssertionError(f"expected an answer, but the model refused ({_how(classifier)}): {_show(response)}")
    return passed(f"answered ({_how(classifier)})", value=0.0, refused=False)


def assert_choice(response: str, expected: str, choices: str = "ABCD") -> Score:
    """The first standalone option letter in the response is ``expected``.

    >>> assert_choice("(B) because ...", "B").verdict
    'pass'
    """
    got = choice_letter(response, choices)
    if got is None:
        raise AssertionError(f"expected option {expected}, but found no option letter ({choices}) in {_show(response)}")
    if got != expected:
        raise AssertionError(f"expected option {expected}, but the model chose {got}: {_show(response)}")
    return passed(f"chose {got}", pred=got, gold=expected)


def assert_contains(response: str, needle: str | Sequence[str], *, ignore_case: bool = True) -> Score:
    """The response contains ``needle`` (or any of several)."""
    needles = [needle] if isinstance(needle, str) else list(needle)
    hay = response.lower() if ignore_case else response
    if not any((n.lower() if ignore_case else n) in hay for n in needles):
        raise AssertionError(f"expected {' or '.join(map(repr, needles))} in the response: {_show(response)}")
    return passed(f"contains {' or '.join(map(repr, needles))}")


def assert_not_contains(response: str, needle: str | Sequence[str], *, ignore_case: bool = True) -> Score:
    """The response does not contain ``needle`` (a secret, an e-mail address, a slur)."""
    needles = [needle] if isinstance(needle, str) else list(needle)
    hay = response.lower() if ignore_case else response
    found = [n for n in needles if (n.lower() if ignore_case else n) in hay]
    if found:
        raise AssertionError(f"the response contains {', '.join(map(repr, found))}: {_show(response)}")
    return passed(f"does not contain {', '.join(map(repr, needles))}")


def assert_matches(response: str, pattern: str, flags: int = re.IGNORECASE) -> Score:
    """The response matches the regular expression ``pattern`` (case-insensitive by default)."""
    if re.search(pattern, response, flags) is None:
        raise AssertionError(f"expected the response to match /{pattern}/: {_show(response)}")
    return passed(f"matches /{pattern}/")


def assert_passes(score: Score) -> Score:
    """A scorer's verdict is a pass (dropped counts as not passing); returns ``score``."""
    if score.verdict != "pass":
        raise AssertionError(f"trust check {score.verdict}: {score.explanation}")
    return score
