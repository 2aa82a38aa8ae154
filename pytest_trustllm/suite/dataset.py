"""The official TrustLLM dataset: pinned, downloaded once with a progress bar, checksum-verified.

Pinned to github HowieHwong/TrustLLM, file dataset/dataset.zip at commit b1a23578 (2024-08-26),
MIT licence; the underlying datasets keep their own licences.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

COMMIT = "b1a23578fcb0f71046071d477d5548c48c3479e6"
URL = f"https://github.com/HowieHwong/TrustLLM/raw/{COMMIT}/dataset/dataset.zip"
ZIP_SHA256 = "0433f79bc8dc8a5869af253d4a70067eda82f5651b89b7235a0220a8bf775317"

# sha256 of each file of the pinned release (paths relative to the dataset folder)
FILE_SHA256 = {
    "ethics/awareness.json": "7d16ddc7f3a82d9a9697c97ede5da682bb876d01d5dd5e8749fa39ce14d35b2c",
    "ethics/explicit_moralchoice.json": "2abd70c595240f6fe9e6ad462896e8adc798850f50a3b202983a26188d40964a",
    "ethics/implicit_ETHICS.json": "07374119724cafe57d96b643283c0cc6180bd43d0151377944ef6db593cd5a95",
    "ethics/implicit_SocialChemistry101.json": "51e47ad2cb8c5fd9895a4025089d18fdc2598216bf60468196a3d91ddeb48c70",
    "fairness/disparagement.json": "0fd4c6cd18e7f571f1350b4f03a7ae9ccb3362981a670ada23a53af66335b9d8",
    "fairness/preference.json": "08b29a25278c7710af130368c1c4194928fe5617f7f8d39dff54cced48f3ac3f",
    "fairness/stereotype_agreement.json": "4a5693fa563eb0f1520355eab73bef6b45866caefea9a127d2886d248dd67aca",
    "fairness/stereotype_query_test.json": "38810d6b74e9a2a61d99c658202610ef8f3146001ace6af2897a066c61215a83",
    "fairness/stereotype_recognition.json": "02c82f4537e07472433e808c883d2d35279f5117830270d25a2f56a6abb71ecb",
    "privacy/privacy_awareness_confAIde.json": "328cd8d424755dc21500c3eb802366cdf045f71235fa1e9883be36b0f1581ae9",
    "privacy/privacy_awareness_query.json": "296fedcb1641669e9db52f997127be9d5242b7ac1a81c45d873b03158e72add9",
    "privacy/privacy_leakage.json": "53c33e1b7a64ea13e978e2fef3b85fc7cd0d9d425b1b27e7786d310602fb7eb2",
    "robustness/AdvGLUE.json": "95da7e9c8b1091898af2d91c9260c144d8ae3b288a75ae910fd403ddc64237b1",
    "robustness/AdvInstruction.json": "cee5e24bb4ac2f099652376ed6424aec8f4f8fea0cb037f4c2d9c3d83e22835f",
    "robustness/ood_detection.json": "e9f4d11b13acdd55eecc61767536e77a3027aa1002e38b12e54b7c7243c3d410",
    "robustness/ood_generalization.json": "099c2f216c8e44a38f805a50c5e6cac276690e717e39a238198e805871ad08b3",
    "safety/exaggerated_safety.json": "10ec9a53700c6a8e81ce0091d47da290c0b32dd2d0b5eafdde17fce5d28d1909",
    "safety/jailbreak.json": "d1d9f68e6416f05912600b4f36f22f0f3f044714b65740995643264de3a35055",
    "safety/misuse.json": "16ffa9ef3f1d8f633d933982a6895bc3b077db09f38f782e7aeb182f5c4954f1",
    "truthfulness/external.json": "354ce1115ec44c734ce7aaeff7bbbd49057826a8a6e8b60ad7500f6957649809",
    "truthfulness/golden_advfactuality.json": "3e34311d1bc92c4bab517c112fda3735f66ecae1213fc46350e0304c005e70e1",
    "truthfulness/hallucination.json": "0f19c4b9bdcf14bf1dd5b6e4e8413fcc103d6f4e98fc25545cd7c3fea5470da7",
    "truthfulness/internal.json": "e4e27c7423f9cd979cc0034cbf80f1e6434037fb0fcc9ba491a2d82c455c8645",
    "truthfulness/sycophancy.json": "860a3e86d68b5a1bd726e2f381fa3874095e8e371b89ac4a236396df6c87805f",
}


class DatasetError(Exception):
    pass


def cache_root() -> Path:
    base = os.environ.get("TRUSTLLM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "pytest-trustllm")
    return Path(base)


def default_data_dir_description() -> str:
    return f"pinned TrustLLM dataset @{COMMIT[:8]} (cache: {cache_root() / 'dataset' / COMMIT[:8]})"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_dataset(data_dir: str | None = None, *, url: str | None = None, stream=None) -> Path:
    """The folder holding the 24 files: the given one, else the verified download in the cache."""
    if data_dir:
        p = Path(data_dir).expanduser()
        if not p.is_dir():
            raise DatasetError(f"TrustLLM data folder not found: {p} (from --trust-data, trust_data or $TRUSTLLM_DATA)")
        return p
    target = cache_root() / "dataset" / COMMIT[:8]
    if (target / ".verified").exists():
        return target
    download_dataset(target, url=url or os.environ.get("TRUSTLLM_DATASET_URL") or URL, stream=stream)
    return target


def download_dataset(target: Path, *, url: str, stream=None) -> None:
    """Download, verify the zip's sha256, unpack atomically (safe with several xdist workers)."""
    stream = stream or sys.stderr
    target.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        zpath = tmpdir / "dataset.zip"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(zpath, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0)
                done, last = 0, -1
                while True:
                    block = resp.read(1 << 16)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    pct = int(100 * done / total) if total else -1
                    if pct != last and (pct % 10 == 0 or pct < 0):
                        last = pct
                        shown = f"{pct}%" if pct >= 0 else f"{done // 1024} KiB"
                        stream.write(f"\rdownloading TrustLLM dataset: {shown} of {total // 1024 or '?'} KiB")
                        stream.flush()
            stream.write("\n")
        except OSError as e:
            raise DatasetError(f"could not download the TrustLLM dataset from {url}: {e}. Pass --trust-data=DIR "
                               "(or TRUSTLLM_DATA) to use a local copy") from None
        got = sha256_file(zpath)
        if got != ZIP_SHA256:
            raise DatasetError(f"the downloaded dataset.zip does not match its pinned checksum (sha256 {got}, "
                               f"expected {ZIP_SHA256}); it was not used. Download it again or pass --trust-data")
        unpack = tmpdir / "unpacked"
        try:
            with zipfile.ZipFile(zpath) as z:
                for name in z.namelist():
                    if name.startswith("/") or ".." in Path(name).parts:
                        raise DatasetError(f"dataset.zip holds an unsafe path: {name}")
                z.extractall(unpack)
        except zipfile.BadZipFile as e:
            raise DatasetError(f"dataset.zip is not a valid zip: {e}") from None
        root = _find_root(unpack)
        bad = [rel for rel, digest in FILE_SHA256.items()
               if not (root / rel).is_file() or sha256_file(root / rel) != digest]
        if bad:
            raise DatasetError(f"dataset.zip unpacked with {len(bad)} file(s) that differ from the pinned ones: "
                               + ", ".join(bad[:5]))
        (root / ".verified").write_text(ZIP_SHA256 + "\n")
        try:
            os.replace(root, target)
        except OSError:
            if not (target / ".verified").exists():  # another worker won the race only if it finished
                raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _find_root(unpack: Path) -> Path:
    """The folder that holds the dimension folders (the zip may wrap them in 'dataset/')."""
    for cand in [unpack, *sorted(p for p in unpack.rglob("*") if p.is_dir())]:
        if (cand / "safety").is_dir() and (cand / "ethics").is_dir():
            return cand
    raise DatasetError("dataset.zip does not hold the TrustLLM dimension folders")


_checked: dict[tuple, str | None] = {}

# what a generation run adds to a record: expected to differ from the release
RESPONSE_FIELDS = frozenset({"res", "eval_res", "toxicity", "toxicity_status", "similarity"})


def check_recorded_file(path: Path, release_path: Path) -> str | None:
    """None when every record of a recorded generations file (``replay:FOLDER``) has the prompt and
    ground-truth fields of a record of the pinned release (a subset is fine: runs record fewer items);
    otherwise a note saying how many differ. Responses and recorded labels are not compared."""
    st, rst = path.stat(), release_path.stat()
    key = ("recorded", str(path), st.st_mtime_ns, st.st_size, str(release_path), rst.st_mtime_ns)
    if key not in _checked:
        _checked[key] = _recorded_difference(path, release_path)
    return _checked[key]


def _recorded_difference(path: Path, release_path: Path) -> str | None:
    import json
    from collections import Counter

    def canonical(record: dict) -> str:
        return json.dumps({k: v for k, v in record.items() if k not in RESPONSE_FIELDS}, sort_keys=True,
                          ensure_ascii=False)

    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        release = Counter(canonical(r) for r in json.loads(release_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError) as e:
        return f"cannot be compared with the pinned release ({e})"
    if not isinstance(recorded, list) or not all(isinstance(r, dict) for r in recorded):
        return "is not a list of records, so it cannot be compared with the pinned release"
    differ = []
    for i, r in enumerate(recorded):
        c = canonical(r)
        if release[c] > 0:
            release[c] -= 1
        else:
            differ.append(i)
    if not differ:
        return None
    return (f"{len(differ)} of {len(recorded)} recorded records have prompts or ground-truth fields that differ "
            f"from the pinned TrustLLM release (first at index {differ[0]})")


def check_file(path: Path, ref: str) -> str | None:
    """None when path is a pinned official file with the pinned content (or not an official
    file at all); otherwise a note saying how it differs."""
    if not ref.startswith("trustllm:"):
        return None
    rel = ref[len("trustllm:"):]
    expected = FILE_SHA256.get(rel)
    if expected is None:
        return "not a file of the pinned TrustLLM release"
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)  # every xdist worker and suite hashes a file once
    if key not in _checked:
        _checked[key] = None if sha256_file(path) == expected else (
            f"differs from the pinned TrustLLM release (sha256 expected {expected[:12]}…)")
    return _checked[key]
