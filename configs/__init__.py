"""segue's Hydra configs, installed as the package ``segue.conf`` (``pkg://segue.conf``).

Hydra finds a config *module* only when it is a regular package, hence this file; the YAML files
are the package's data (``pyproject.toml``: ``[tool.setuptools] package-dir``).
"""
