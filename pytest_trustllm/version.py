"""The installed version, from package metadata (its own module so that any layer can read it without
importing the public API in ``pytest_trustllm/__init__.py``)."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("pytest-trustllm")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
