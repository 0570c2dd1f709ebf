"""Export the checkpoint a composed ``export`` config names: the body of ``scripts/export.py``.

Like :mod:`segue.cli.train_run`, an edge where a Hydra ``DictConfig`` is read; the work is
:func:`segue.cli.export.export`, which ``segue export`` calls with plain arguments.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from segue.cli.configs import check_complete
from segue.cli.export import export, size_on_disk


def run(cfg: DictConfig) -> Path:
    """The export ``cfg`` asks for; a bad setting raises, naming it, before any work."""
    check_complete(cfg)  # ckpt=??? is named as ckpt=..., not as an OmegaConf error
    # The values as given: export() checks them all (opset=abc is named, never int()'d).
    out = export(
        cfg.ckpt,
        cfg.out,
        cfg.format,
        opset=cfg.opset,
        int8_embeddings=cfg.int8_embeddings,
    )
    print(f"{cfg.format}: {out} ({size_on_disk(out) / 1e6:.2f} MB)")
    return Path(out)
