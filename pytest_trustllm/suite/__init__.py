"""Suite files: schema, YAML loading with path-precise errors, dataset reading."""
from pytest_trustllm.suite.schema import GateSpec, GenerationSpec, RecordSpec, ScorerSpec, SuiteSpec  # noqa: F401
from pytest_trustllm.suite.load import SuiteError, is_suite_file, load_suite  # noqa: F401
from pytest_trustllm.suite.records import ItemSpec, build_items, read_records  # noqa: F401
