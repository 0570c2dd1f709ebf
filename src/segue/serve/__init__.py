"""``segue serve``: recommendations over HTTP (FastAPI on uvicorn).

The package is imported lazily piece by piece: serving an ONNX bundle never imports torch
(:mod:`segue.serve.backends` imports the torch backend only for a checkpoint). Start a server
with ``python -m segue.serve MODEL`` (see :mod:`segue.serve.cli`), call it with
:class:`segue.serve.client.SegueClient`.
"""
