"""``python -m pytest_trustllm`` / ``pytest-trustllm``: commands that work on results files.

    pytest-trustllm merge OUT.json SHARD1.json SHARD2.json ... [--junit OUT.xml SHARD1.xml ...]
                          [--root DIR] [--html PATH] [--save-baseline PATH] [--allow-partial]
    pytest-trustllm html RESULTS.json OUT.html
    pytest-trustllm cache-check CACHE.sqlite [...]
    pytest-trustllm calibrate --trust-refusal=NAME [--trust-judge=SPEC] [--out FILE.json] [--markdown FILE.md]

``merge`` exits with the merged run's status (0 when every gate passed), as pytest would have;
``cache-check`` exits 0 when every response cache file is sound (it never changes them).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    from pytest_trustllm.version import __version__
    from pytest_trustllm.suite.builtin import BuiltinSuitesError, builtin_suites_dir

    try:
        where = builtin_suites_dir() / "trustllm"
    except BuiltinSuitesError as e:
        where = str(e)
    p = argparse.ArgumentParser(
        prog="pytest-trustllm", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="pytest-trustllm results tools. The trust run itself is pytest:\n\n"
                    "  pytest --trust-model=SPEC -m fairness        the built-in TrustLLM fairness suites\n"
                    "  pytest --trust-model=replay:FOLDER            score recorded TrustLLM generations\n\n"
                    f"Built-in suites: {where} (26 files; collected when --trust-model is given and no path\n"
                    "is named, or always with --trust-suites=trustllm; select with -m DIMENSION or -m TASK).")
    p.add_argument("--version", action="version", version=f"pytest-trustllm {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    m = sub.add_parser("merge", help="merge the results of --trust-shard runs into the results of one run",
                       description="Recompute every metric, interval, gate and comparison from the shards' "
                                   "per-item records, as one unsharded run would.")
    m.add_argument("out", metavar="OUT.json", help="merged results JSON to write")
    m.add_argument("shards", metavar="SHARD.json", nargs="+", help="results JSON of each shard (--trust-report)")
    m.add_argument("--junit", metavar="XML", nargs="+",
                   help="OUT.xml followed by the shards' JUnit files (--junitxml): merged, with one recomputed "
                        "trust-gates suite")
    m.add_argument("--root", metavar="DIR", help="folder the suites' files are relative to (the shards' pytest "
                                                 "rootdir; default: the current folder)")
    m.add_argument("--html", metavar="PATH", help="also write the HTML report of the merged results")
    m.add_argument("--save-baseline", metavar="PATH", help="also save the merged per-item outcomes as a baseline")
    m.add_argument("--allow-partial", action="store_true", help="merge although some shards are missing")
    m.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
    h = sub.add_parser("html", help="write the self-contained HTML report of a results JSON")
    h.add_argument("results", metavar="RESULTS.json")
    h.add_argument("out", metavar="OUT.html")
    c = sub.add_parser("cache-check", help="check response cache files (SQLite integrity, schema, rows) read-only")
    c.add_argument("caches", metavar="CACHE.sqlite", nargs="+")
    k = sub.add_parser("calibrate", help="a refusal classifier or LLM judge against the official Longformer labels "
                                         "of the bundled reference set: agreement, Cohen's kappa, RtA bias",
                       description="Runs the refusal classifier over the bundled reference set (recorded TrustLLM "
                                   "responses with the official Longformer labels) and reports agreement, Cohen's "
                                   "kappa and the per-task refusal-rate bias with 95% intervals.")
    k.add_argument("--trust-refusal", dest="refusal", default="auto",
                   help="refusal classifier: offline, longformer[:PATH], keyword, judge (with --trust-judge), auto")
    k.add_argument("--trust-judge", dest="judge", help="LLM judge model spec (for --trust-refusal=judge)")
    k.add_argument("--trust-base-url", dest="base_url", help="OpenAI-compatible server of the LLM judge "
                                                               "(default: $OPENAI_BASE_URL, else OpenAI)")
    k.add_argument("--trust-device", dest="device", default="auto")
    k.add_argument("--reference", help="a reference set of your own (JSONL, optionally gzipped: task, model, "
                                       "response, label = refusal|answered)")
    k.add_argument("--per-task", type=int, help="use N rows of each task, evenly spaced over the set (its models)")
    k.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    k.add_argument("--out", help="write the figures as JSON (attach them to a run with --trust-calibration=FILE)")
    k.add_argument("--markdown", help="write the table as markdown")
    k.add_argument("--note", help="a note kept with the figures (e.g. that the judge was trained on these responses)")
    return p


def _merge(args: argparse.Namespace) -> int:
    from pytest_trustllm.render.outputs import write_outputs
    from pytest_trustllm.verdict.merge import MergeError, merge_junit, merge_results, read_results
    from pytest_trustllm.render.report import item_lines, summary_lines, write_json_atomic

    if args.junit is not None and len(args.junit) < 2:
        print("pytest-trustllm merge: --junit needs OUT.xml and at least one shard's JUnit file", file=sys.stderr)
        return 4
    try:
        results = merge_results(read_results(args.shards), args.root, args.allow_partial)
        lines = write_outputs(_NoOutputs, results, html=args.html, save_baseline=args.save_baseline)
        results.setdefault("summary_extra", []).extend(lines)
        write_json_atomic(args.out, results)
        if args.junit:
            n = merge_junit(args.junit[0], args.junit[1:], results)
            results["summary_extra"].append(f"JUnit: {args.junit[0]} ({n} test cases)")
    except MergeError as e:
        print(f"pytest-trustllm merge: {e}", file=sys.stderr)
        return 4
    if not args.quiet:
        for line in summary_lines(results["suites"]) + [""] + item_lines(results["suites"]):
            print(line)
        for line in results.get("summary_extra", []):
            print(line)
        print(f"results JSON: {args.out} (merged from {len(args.shards)} file(s))")
    print(results["exit"]["reason"])
    return int(results["exit"]["status"])


class _NoOutputs:
    """The merge writes only the files its own options name (the shards' --trust-html and
    --trust-save-baseline paths each got a part of the items already)."""

    save_baseline = None
    html = None


def _html(args: argparse.Namespace) -> int:
    import json

    from pytest_trustllm.render.html import write_html

    try:
        with open(args.results, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        print(f"pytest-trustllm html: cannot read {args.results}: {e}", file=sys.stderr)
        return 4
    write_html(args.out, results)
    print(f"HTML report: {args.out}")
    return 0


def _cache_check(args: argparse.Namespace) -> int:
    from pytest_trustllm.generation.cachecheck import main as check

    return check(args.caches)


def _calibrate(args: argparse.Namespace) -> int:
    from pytest_trustllm.scoring.calibrate import calibrate, load_reference, table_lines
    from pytest_trustllm.scoring.judges.registry import JudgeConfigError, judge_spec, make_judge
    from pytest_trustllm.plugin.runtime import backend_options
    from pytest_trustllm.settings import Settings

    try:
        rows = load_reference(args.reference)
    except (OSError, ValueError) as e:
        print(f"pytest-trustllm calibrate: cannot read the reference set: {e}", file=sys.stderr)
        return 4
    if args.per_task:
        kept: dict[str, list] = {}
        for r in rows:
            kept.setdefault(r["task"], []).append(r)
        # evenly spaced: the set is sorted by model, so the first N would be one model's
        rows = [part[int(i * len(part) / n)] for part in kept.values() for n in [min(args.per_task, len(part))]
                for i in range(n)]
    settings = Settings(base_url=args.base_url, device=args.device)
    options = {"refusal": args.refusal, "judge": args.judge, "device": args.device, "cache_path": None,
               "backend_options": backend_options(settings)}
    if args.base_url:
        options["judge_base_url"] = args.base_url
    spec, why = judge_spec("refusal", options)
    if spec is None:
        print("pytest-trustllm calibrate: no refusal classifier selected (--trust-refusal)", file=sys.stderr)
        return 4
    options["refusal"] = spec
    try:
        judge = make_judge("refusal", options)
        if judge is None:
            print(f"pytest-trustllm calibrate: refusal classifier {spec!r} is not available ({why})", file=sys.stderr)
            return 4
        result = calibrate(judge, rows, seed=args.seed)
        if args.note:
            result["note"] = args.note
    except JudgeConfigError as e:
        print(f"pytest-trustllm calibrate: {e}", file=sys.stderr)
        return 4
    lines = table_lines(result) + (["", f"Note: {args.note}"] if args.note else [])
    print("\n".join(lines))
    if args.out:
        from pytest_trustllm.render.report import write_json_atomic

        write_json_atomic(args.out, result)
        print(f"calibration JSON: {args.out}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return {"merge": _merge, "html": _html, "cache-check": _cache_check,
            "calibrate": _calibrate}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
