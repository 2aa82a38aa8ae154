"""tests/unit/data holds suite files kept as fixtures (the jailbreak and disparagement suites before their
metrics were generated): data for test_suite_expand.py, not suites for this session to collect."""
collect_ignore = ["data"]
