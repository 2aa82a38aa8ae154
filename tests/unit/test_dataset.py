"""The pinned dataset download: verified against its sha256, unpacked once, reused; a failed or
tampered download is a clear error. Served by a local HTTP server from ../shared."""
import functools
import http.server
import io
import os
import threading
from pathlib import Path

import pytest

from pytest_trustllm.suite import dataset

ZIP = Path(os.environ.get("TRUSTLLM_DATASET_ZIP", Path(__file__).resolve().parents[3] / "shared/trustllm/dataset.zip"))
pytestmark = pytest.mark.skipif(not ZIP.is_file(), reason=f"pinned dataset.zip not found at {ZIP}")


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "dataset.zip").write_bytes(ZIP.read_bytes())
    data = bytearray(ZIP.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / "tampered.zip").write_bytes(bytes(data))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_unpacks_and_reuses(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTLLM_CACHE_DIR", str(tmp_path / "cache"))
    progress = io.StringIO()
    folder = dataset.ensure_dataset(url=f"{server}/dataset.zip", stream=progress)
    assert (folder / "safety" / "jailbreak.json").is_file()
    assert all(dataset.sha256_file(folder / rel) == digest for rel, digest in dataset.FILE_SHA256.items())
    assert "downloading TrustLLM dataset: 100%" in progress.getvalue()
    # reused: a second call with an unreachable URL still answers from the cache
    assert dataset.ensure_dataset(url="http://127.0.0.1:9/none.zip") == folder


def test_tampered_download_is_rejected(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTLLM_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(dataset.DatasetError, match="does not match its pinned checksum"):
        dataset.ensure_dataset(url=f"{server}/tampered.zip", stream=io.StringIO())
    assert not (tmp_path / "cache" / "dataset" / dataset.COMMIT[:8]).exists()


def test_failed_download_says_how_to_use_a_local_copy(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TRUSTLLM_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(dataset.DatasetError, match="--trust-data"):
        dataset.ensure_dataset(url=f"{server}/missing.zip", stream=io.StringIO())


def test_modified_file_is_reported(tmp_path):
    src = ZIP.parent / "dataset" / "fairness" / "stereotype_query_test.json"
    copy = tmp_path / "stereotype_query_test.json"
    copy.write_bytes(src.read_bytes())
    assert dataset.check_file(copy, "trustllm:fairness/stereotype_query_test.json") is None
    copy.write_bytes(src.read_bytes().replace(b"lazy", b"LAZY", 1))
    assert "differs from the pinned TrustLLM release" in dataset.check_file(
        copy, "trustllm:fairness/stereotype_query_test.json")
