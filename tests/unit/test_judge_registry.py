"""make_judge / make_judges: names, defaults, extension by registration and hook, the judge cache,
recorded and stand-in toxicity, and clear errors for missing extras."""
import json
import sys

import pytest

from pytest_trustllm.scoring.judges.base import JudgeFailure, JudgeStats, ToxicityScorer
from pytest_trustllm.scoring.judges.cached import CachedJudge, JudgeCache
from pytest_trustllm.scoring.judges.registry import (
    JUDGE_FACTORIES,
    JudgeConfigError,
    judges_report,
    make_judge,
    make_judges,
    resolve_refusal_default,
)

NONE = {"refusal": "none", "toxicity": "none", "embedder": "none"}


class CountingRefusal:
    """A cacheable classifier that counts what reaches it."""

    name = "counting"
    cacheable = True

    def __init__(self, fail_on=()):
        self.identity = {"kind": "refusal", "name": "counting", "v": 1}
        self.stats = JudgeStats()
        self.seen = []
        self.fail_on = set(fail_on)

    def classify(self, responses, records):
        self.seen.extend(responses)
        self.stats.calls += len(responses)
        return [JudgeFailure("boom") if r in self.fail_on else r.startswith("no") for r in responses]


@pytest.fixture
def counting():
    made = []

    def factory(arg, options):
        made.append(CountingRefusal(fail_on={"fail"}))
        return made[-1]

    JUDGE_FACTORIES["refusal"].register("counting-test", factory)
    yield made
    JUDGE_FACTORIES["refusal"]._entries.pop("counting-test")


def test_registered_factory_is_cached_by_identity_and_input(counting, tmp_path):
    opts = {**NONE, "refusal": "counting-test", "cache_path": str(tmp_path / "c.sqlite")}
    clf = make_judges(opts).refusal
    assert isinstance(clf, CachedJudge) and clf.name == "counting"
    assert clf.classify(["no way", "sure", "no way", "fail"], [{}] * 4) == [True, False, True, JudgeFailure("boom")]
    assert counting[0].seen == ["no way", "sure", "fail"]  # duplicates sent once

    clf2 = make_judges(opts).refusal  # a new run on the same cache file
    assert clf2.classify(["sure", "no way", "fail"], [{}] * 3) == [False, True, JudgeFailure("boom")]
    assert counting[1].seen == ["fail"]  # failures are never cached
    row = [r for r in judges_report(make_judges(opts)) if r["kind"] == "refusal"][0]
    assert row["name"] == "counting" and row["calls"] == 0
    assert (clf2.stats.calls, clf2.stats.cached) == (1, 2)

    clf3 = make_judges(opts).refusal
    clf3.inner.identity = {"kind": "refusal", "name": "counting", "v": 2}  # another model version: no hits
    clf3.classify(["sure"], [{}])
    assert clf3.stats.cached == 0 and counting[-1].seen == ["sure"]


def test_cache_refresh_ignores_stored_results(counting, tmp_path):
    opts = {**NONE, "refusal": "counting-test", "cache_path": str(tmp_path / "c.sqlite")}
    make_judges(opts).refusal.classify(["sure"], [{}])
    clf = make_judges({**opts, "cache_refresh": True}).refusal
    clf.classify(["sure"], [{}])
    assert clf.stats.cached == 0 and clf.stats.calls == 1


def test_hook_is_asked_first():
    sentinel = CountingRefusal()
    seen = []

    def hook(kind, options):
        seen.append(kind)
        return sentinel if kind == "refusal" else None

    judges = make_judges({**NONE, "refusal": "offline"}, hook=hook)
    assert judges.refusal is sentinel and set(seen) == {"judge", "refusal", "toxicity", "embedder"}


def test_unknown_names_suggest_the_close_one():
    with pytest.raises(JudgeConfigError, match="Did you mean: offline"):
        make_judge("refusal", {"refusal": "ofline"})
    with pytest.raises(JudgeConfigError, match="unknown judge kind"):
        make_judge("nope", {})


def test_not_configured_and_disabled():
    assert make_judge("judge", {}) is None
    assert make_judge("refusal", {"refusal": "none"}) is None
    assert make_judges(NONE).all() == []


def test_refusal_default_is_recorded_with_its_reason(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # an empty Hugging Face cache: a machine that has the official classifier cached runs this too
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    name, why = resolve_refusal_default()
    assert name == "offline" and "longformer unavailable" in why
    judges = make_judges({"toxicity": "none", "embedder": "none"})
    assert judges.refusal.name == "offline"
    assert judges.extra["selection"]["refusal"] == why
    assert [r["selection"] for r in judges_report(judges) if r["kind"] == "refusal"] == [why]


def test_missing_extra_names_the_pip_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "profanity_check", None)  # makes the import fail
    with pytest.raises(JudgeConfigError, match="pip install alt-profanity-check"):
        make_judge("toxicity", {"toxicity": "profanity"})


def test_recorded_toxicity():
    tox = make_judge("toxicity", {"toxicity": "recorded"})
    assert isinstance(tox, ToxicityScorer)
    recs = [{"res": "a", "toxicity": 0.25}, {"res": "b", "toxicity": None, "toxicity_status": "error"}, {"res": "c"}]
    assert tox.score(["a", "b", "c"], recs) == [0.25, None, None]
    assert tox.problems == {"no recorded value (toxicity_status=error)": 1,
                            "no recorded value (toxicity_status=absent)": 1}
    assert isinstance(tox.score(["other"], recs[:1])[0], JudgeFailure)


def test_profanity_stand_in_is_labelled_everywhere():
    import profanity_check  # noqa: F401
    judges = make_judges({**NONE, "toxicity": "profanity"})
    tox = judges.toxicity
    low, high = tox.score(["Have a lovely day, friend.", "you are a stupid fucking idiot"], [{}, {}])
    assert 0.0 <= low < 0.5 < high <= 1.0
    row = judges_report(judges)[0]
    assert "not Perspective TOXICITY (stand-in)" in row["name"]
    assert "not Perspective TOXICITY (stand-in)" in json.dumps(row["identity"])


def test_judge_cache_survives_a_damaged_row(tmp_path):
    c = JudgeCache(tmp_path / "c.sqlite")
    c.put_many([("k", [1.0, 2.0])])
    c.db.db.execute("UPDATE judges SET text = 'not json' WHERE key = 'k'")
    assert JudgeCache(tmp_path / "c.sqlite").get_many(["k"]) == {}


def test_refusal_judge_uses_the_hooks_llm_judge_through_the_plugin_relay():
    class FakeChat:
        name, cacheable = "fake-chat", False

        def __init__(self):
            self.identity = {"kind": "judge", "name": "fake-chat"}
            self.stats = JudgeStats()

        def complete(self, prompts):
            self.stats.calls += len(prompts)
            return ["REFUSAL" if "sorry" in p.rsplit("\n", 1)[-1] else "COMPLIANCE" for p in prompts]

    chat = FakeChat()

    class Relay:  # what the plugin passes: pytest's hook relay, with the hook as an attribute
        def pytest_trust_make_judge(self, kind, options):
            return chat if kind == "judge" else None

    options = {**NONE, "refusal": "judge", "hook": Relay()}
    clf = make_judge("refusal", options)
    assert clf.classify(["sorry, no", "here you go"], [{}, {}]) == [True, False]
    assert chat.stats.calls == 2 and clf.identity["judge"] == {"kind": "judge", "name": "fake-chat"}
