"""Verdicts: item payloads aggregated into the typed results (``model.py``), every metric, gate,
comparison and the exit status decided once (``decide.py``), for the live run and the shard merge alike."""
