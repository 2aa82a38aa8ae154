"""Suite files: schema, YAML loading with path-precise errors, dataset reading."""
from .schema import GateSpec, GenerationSpec, RecordSpec, ScorerSpec, SuiteSpec  # noqa: F401
from .load import SuiteError, is_suite_file, load_suite  # noqa: F401
from .records import ItemSpec, build_items, read_records  # noqa: F401
