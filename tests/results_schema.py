"""Every results JSON the tests write is checked against the published ``results.schema.json``."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any, Mapping

import jsonschema

RESULTS_PREFIX = "pytest-trustllm/results/"


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(files("pytest_trustllm.verdict").joinpath("results.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def check_results(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """Raise ``jsonschema.ValidationError`` (naming the path) unless ``doc`` is a valid results document."""
    _validator().validate(doc)
    return doc


def check_if_results(doc: Any) -> Any:
    """``check_results`` for documents that say they are results; other JSON passes through."""
    if isinstance(doc, dict) and str(doc.get("schema", "")).startswith(RESULTS_PREFIX):
        check_results(doc)
    return doc
