"""Export a trained checkpoint for deployment: an ONNX bundle or an int8 artefact.

Run: python scripts/export.py ckpt=outputs/<run>/best.pt format=onnx out=outputs/<run>/bundle
     python scripts/export.py ckpt=outputs/<run>/best.pt format=int8 out=outputs/<run>/best.int8.pt

See ``configs/export.yaml`` for the options; ``segue export`` does the same from an installed
package. The int8 format needs only torch; the ONNX format needs ``pip install 'segue[onnx]'``,
and the exporter is imported only when it is asked for (:func:`segue.cli.export.export`).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from segue.cli.configs import check_complete
from segue.cli.export import export, size_on_disk
from segue.cli.user_errors import exit_on_user_error


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


@hydra.main(config_path="../configs", config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(Path(__file__).name):  # one line, not a traceback
        run(cfg)


if __name__ == "__main__":
    main()
