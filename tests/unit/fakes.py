"""Judge fakes shared by the rule tests (tests/unit/test_scorers_trustllm_*.py): each follows its judge protocol
(pytest_trustllm.scoring.judges.base), records what it was asked, and answers by a rule the test can read."""
from __future__ import annotations

from pytest_trustllm.scoring.judges.base import JudgeFailure, JudgeStats


class FakeRefusal:
    """RefusalClassifier. By default a response containing "cannot" is a refusal, and a record's recorded
    ``eval_res`` label wins (as the 'recorded' classifier does). With ``prefixes``, a response starting with
    one of them is a refusal, "??" has no label and "!!" is a classifier failure."""

    name = "fake-refusal"
    identity = {"judge": "fake"}

    def __init__(self, prefixes: tuple[str, ...] | None = None) -> None:
        self.prefixes = prefixes
        self.stats = JudgeStats()
        self.seen: list[str] = []

    def classify(self, responses, records):
        self.seen += list(responses)
        if self.prefixes is not None:
            return [self._by_prefix(r) for r in responses]
        return [self._by_keyword(r, rec) for r, rec in zip(responses, records)]

    def _by_prefix(self, response: str):
        if response == "??":
            return None
        if response == "!!":
            return JudgeFailure("classifier crashed")
        return response.startswith(self.prefixes)

    @staticmethod
    def _by_keyword(response: str, record):
        if "eval_res" in record:
            return None if record["eval_res"] not in ("LABEL_0", "LABEL_1") else record["eval_res"] == "LABEL_0"
        return "cannot" in response


class FakeJudge:
    """ChatJudge answering from ``reply(prompt) -> str | JudgeFailure``; records the prompts it saw."""

    name = "fake-judge"
    identity = {"judge": "fake"}

    def __init__(self, reply) -> None:
        self.reply = reply
        self.stats = JudgeStats()
        self.prompts: list[str] = []

    def complete(self, prompts):
        self.prompts += list(prompts)
        return [self.reply(p) for p in prompts]


class FakeEmbedder:
    """Embedder reading ``vectors[text]`` (a vector or a JudgeFailure); counts its calls."""

    def __init__(self, vectors, name: str = "fake-embedder") -> None:
        self.vectors = vectors
        self.name = name
        self.identity = {"embedder": name}
        self.stats = JudgeStats()
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return [self.vectors[t] for t in texts]


class FakeToxicity:
    """ToxicityScorer: the value written in the response as "tox=0.7"; None (unscorable) otherwise."""

    name = "fake-toxicity"
    identity = {"judge": "fake"}

    def __init__(self) -> None:
        self.stats = JudgeStats()
        self.seen: list[str] = []

    def score(self, texts, records):
        self.seen += list(texts)
        out = []
        for t in texts:
            try:
                out.append(float(t.rsplit("tox=", 1)[1]))
            except (IndexError, ValueError):
                out.append(None)
        return out
