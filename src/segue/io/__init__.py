"""Files segue writes and reads back: checkpoints, their safe loader, and atomic writes.

Not part of :mod:`segue.training`: serving, export, compression, retrieval and the data
vocabulary read and write these files too, and none of them is about training. The package
imports nothing itself, so ``segue.data.vocab`` can use :mod:`segue.io.atomic_write` without
pulling in the model.
"""
