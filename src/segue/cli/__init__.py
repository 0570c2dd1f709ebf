"""The ``segue`` command: train, evaluate, export, serve, recommend and describe artefacts.

Entry point: :func:`segue.cli.main.main` (``[project.scripts]`` in ``pyproject.toml``). Like
``scripts/``, this package is an edge of the library: it turns a command line into plain library
calls, and it is the one place besides ``scripts/`` where Hydra configs are composed (from the
installed config package ``segue.conf``). Each command imports what it needs when it runs, so
``segue info`` never loads onnxruntime and ``segue export --format int8`` works without the
``[onnx]`` extra.
"""
