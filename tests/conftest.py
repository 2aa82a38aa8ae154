# pytest_plugins must live in the top-level conftest (pytest refuses it in nested ones
# when the whole tests/ folder is collected).
pytest_plugins = ["pytester"]
