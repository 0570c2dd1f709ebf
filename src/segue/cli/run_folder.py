"""The run folder of ``segue train`` / ``segue evaluate``: where, and what is kept in it.

The layout is Hydra's, so a run folder looks the same whether ``segue train`` or
``python scripts/train.py`` made it: ``outputs/<date>/<time>/`` under the working folder, the
composed config in ``.hydra/config.yaml`` and the command line's overrides in
``.hydra/overrides.yaml``, next to the command's log (``train.log``, ``evaluate.log``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from segue.io.atomic_write import atomic_write_text
from segue.logs import logging_active, make_run_dir, run_logging

if TYPE_CHECKING:
    from omegaconf import DictConfig


def default_run_dir(now: datetime, root: Path = Path("outputs")) -> Path:
    """``root/<YYYY-MM-DD>/<HH-MM-SS>``, Hydra's default, with ``-2``, ``-3``... when taken.

    >>> default_run_dir(datetime(2026, 12, 5, 9, 30, 0), Path("/nonexistent"))
    PosixPath('/nonexistent/2026-12-05/09-30-00')
    """
    base = root / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")
    path, n = base, 1
    while path.exists():  # two runs started in the same second must not share a folder
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def save_run_config(run_dir: Path, cfg: DictConfig, overrides: list[str]) -> Path:
    """Write ``.hydra/config.yaml`` and ``.hydra/overrides.yaml``; returns the ``.hydra`` folder."""
    from omegaconf import OmegaConf

    folder = make_run_dir(run_dir / ".hydra")
    for name, content in (
        ("config.yaml", OmegaConf.to_yaml(cfg)),
        ("overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(list(overrides)))),
    ):
        atomic_write_text(folder / name, content)
    return folder


def run_dir_for(cfg: DictConfig, requested: Path | None, now: datetime) -> Path:
    """The run folder: ``paths.output_dir=`` if given, else ``requested``, else the default.

    ``cfg.paths.output_dir`` is set to the (absolute) answer, so the run and its checkpoints
    agree on it. The folder is not created here (:func:`segue.logs.make_run_dir`), so a
    config found incomplete afterwards leaves nothing behind.
    """
    from segue.cli.configs import output_dir_is_set, set_output_dir

    if output_dir_is_set(cfg):
        if requested is not None:
            raise ValueError("give the run folder once: --run-dir or paths.output_dir=, not both")
        run_dir = Path(str(cfg.paths.output_dir))
    else:
        run_dir = requested if requested is not None else default_run_dir(now)
    set_output_dir(cfg, run_dir)
    return run_dir.resolve()


def run_output(log_file: Path) -> AbstractContextManager[None]:
    """Console + ``log_file`` for a run, unless ``segue`` or Hydra's job logging route it already.

    ``segue train`` has set logging up before the run starts, and ``@hydra.main`` writes its
    own ``train.log``; a direct call of ``train(cfg)`` (a test, a notebook) has neither.
    """
    from hydra.core.hydra_config import HydraConfig

    if logging_active() or HydraConfig.initialized():
        return nullcontext()
    return run_logging(log_file)
