"""Export a trained checkpoint for deployment: an ONNX bundle or an int8 artefact.

Run: python scripts/export.py ckpt=outputs/<run>/best.pt format=onnx out=outputs/<run>/bundle
     python scripts/export.py ckpt=outputs/<run>/best.pt format=int8 out=outputs/<run>/best.int8.pt

See ``configs/export.yaml`` for the options; ``segue export`` does the same from an installed
package. The int8 format needs only torch; the ONNX format needs ``pip install 'segue[onnx]'``,
and the exporter is imported only when it is asked for (:func:`segue.cli.export.export`).
A thin ``@hydra.main`` shell around :func:`segue.cli.export_run.run`, which tests call.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from segue.cli.export_run import run
from segue.cli.user_errors import exit_on_user_error


@hydra.main(config_path="../configs", config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error(Path(__file__).name):  # one line, not a traceback
        run(cfg)


if __name__ == "__main__":
    main()
