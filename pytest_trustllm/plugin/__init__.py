"""The pytest layer, the only one that imports pytest: the hooks (``hooks.py``, the entry point), the
per-process state (``session.py``), the controller (``controller.py``), collection, fixtures, options,
scheduling and the hook specifications."""
