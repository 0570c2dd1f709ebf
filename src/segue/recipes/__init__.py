"""Recipes: typed builders that turn a run's settings into the objects that train it.

Scripts, ``segue train``, the benchmarks, the notebooks and the tests build a run through these
functions instead of spelling out the same arguments each time:

* data: :func:`prepare_from_settings` (a :class:`~segue.data.settings.DataSettings`, the data
  recipe stored in every checkpoint);
* model and loss: :func:`build_model`, :func:`build_loss` (a factory plus the catalogue);
* optimizer: :func:`build_optimizer`, by name from :data:`OPTIMIZERS` (the ``optim/`` group);
* the whole run: :class:`RunRecipe`, :func:`build_parts`, :func:`train`.

Library code: plain typed arguments only. Reading a Hydra config into a :class:`RunRecipe` is
the command line's job (:func:`segue.cli.train_run.run_recipe`).
"""

from segue.data.settings import prepare_from_settings
from segue.recipes.optimizer import (
    OPTIMIZERS,
    OptimizerSettings,
    build_optimizer,
    split_optim_group,
)
from segue.recipes.training import (
    VALIDATION_KS,
    LossFactory,
    ModelFactory,
    RunParts,
    RunRecipe,
    build_loss,
    build_model,
    build_parts,
    train,
    validator,
)

__all__ = [
    "OPTIMIZERS",
    "VALIDATION_KS",
    "LossFactory",
    "ModelFactory",
    "OptimizerSettings",
    "RunParts",
    "RunRecipe",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_parts",
    "prepare_from_settings",
    "split_optim_group",
    "train",
    "validator",
]
