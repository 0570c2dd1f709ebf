"""Training: the loop (:func:`~segue.training.trainer.fit`), losses, masking and schedules.

A run built from settings goes through :mod:`segue.recipes`, which builds the model, loss and
optimizer a config names and hands them to the loop.
"""
