"""Export a trained checkpoint for deployment: an ONNX bundle or an int8 artefact.

Run: python scripts/export.py ckpt=outputs/<run>/best.pt format=onnx out=outputs/<run>/bundle
     python scripts/export.py ckpt=outputs/<run>/best.pt format=int8 out=outputs/<run>/best.int8.pt

See ``configs/export.yaml`` for the options.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from segue.compress import compress_checkpoint
from segue.export.onnx_export import export_onnx

FORMATS = ("onnx", "int8")


def export(cfg: DictConfig) -> Path:
    """Write what ``cfg.format`` asks for; returns the written path."""
    if cfg.format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {cfg.format!r}")
    if cfg.format == "int8":
        return compress_checkpoint(cfg.ckpt, cfg.out)
    return export_onnx(
        cfg.ckpt, cfg.out, opset=int(cfg.opset), int8_embeddings=bool(cfg.int8_embeddings)
    )


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@hydra.main(config_path="../configs", config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    out = export(cfg)
    print(f"{cfg.format}: {out} ({size_on_disk(out) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
