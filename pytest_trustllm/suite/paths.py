"""Where a suite's data file is, and whether it is the pinned release: the one resolver used by the
plugin's collection, ``suite_records()`` and ``evaluate_suite()``.

``data: trustllm:PATH`` names a file of the TrustLLM release, found in (first that applies) a replay
folder of recorded generations, the folder given as ``--trust-data`` / ``data_dir``, ``$TRUSTLLM_DATA``,
or the pinned release (downloaded once, checksum-verified). Any other ``data:`` is a path, relative
to the suite file."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pytest_trustllm.suite.dataset import DatasetError, check_file, check_recorded_file, ensure_dataset
from pytest_trustllm.suite.records import DataError
from pytest_trustllm.suite.schema import SuiteSpec

RELEASE_PREFIX = "trustllm:"


class NotRecorded(Exception):
    """A suite whose data file is absent from the replay folder: skipped, not a collection error."""


@dataclass
class DataLocator:
    data: str | None = None  # a folder of the release's files; None: $TRUSTLLM_DATA, else the pinned download
    recorded: str | None = None  # a replay folder: suites read records (with responses) from it
    allow_modified: bool = False
    notes: dict[str, str] = field(default_factory=dict)  # data ref -> how it differs from the release
    _release: Path | None = field(default=None, repr=False)

    def release_dir(self) -> Path:
        """The folder of the pinned release's files (raises ``DatasetError``)."""
        if self._release is None:
            self._release = ensure_dataset(self.data or os.environ.get("TRUSTLLM_DATA") or None)
        return self._release

    def data_dir(self) -> Path:
        """Where ``trustllm:`` files are read from: the replay folder, else the release."""
        if self.recorded:
            return Path(self.recorded)
        try:
            return self.release_dir()
        except DatasetError as e:
            raise DataError(str(e)) from None

    def known_dir(self) -> Path | None:
        """The folder ``trustllm:`` files are read from, if already known (never downloads)."""
        return Path(self.recorded) if self.recorded else self._release

    def resolve(self, suite: SuiteSpec) -> Path:
        ref = suite.data
        if ref.startswith(RELEASE_PREFIX):
            name = ref[len(RELEASE_PREFIX):]
            path = self.data_dir() / name
            if self.recorded and not path.is_file():
                raise NotRecorded(f"{name} was not recorded in {self.recorded}")
            return path
        p = Path(ref)
        return p if p.is_absolute() else suite.path.parent / p

    def check(self, suite: SuiteSpec, data_path: Path) -> None:
        """Official files that differ from their pinned checksums are an error unless ``allow_modified``
        (then noted in ``notes``). A replay folder's files hold responses, so only their prompts and
        ground truth are compared with the release."""
        if self.recorded and suite.data.startswith(RELEASE_PREFIX):
            try:
                note = check_recorded_file(data_path, self.release_dir() / suite.data[len(RELEASE_PREFIX):])
            except DatasetError as e:
                raise DataError(f"{data_path}: cannot check it against the pinned release: {e}") from None
        else:
            note = check_file(data_path, suite.data)
        if note:
            if not self.allow_modified:
                raise DataError(f"{data_path}: {note}. Pass --trust-allow-modified-data to run on it anyway "
                                "(the results then record that the data was modified)")
            self.notes[suite.data] = note
