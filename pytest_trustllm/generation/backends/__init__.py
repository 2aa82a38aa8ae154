"""Model backends behind one batch-shaped interface; heavy imports stay inside each factory."""
from pytest_trustllm.generation.backends.base import BACKENDS, Backend, BackendError, make_backend, parse_model_spec  # noqa: F401
