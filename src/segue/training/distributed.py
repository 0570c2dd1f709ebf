"""Several processes through ``torchrun`` (DDP); a no-op in a single process.

Under ``torchrun`` each process trains on its own share of every epoch's shuffled windows and
gradients are averaged by DDP; process 0 alone validates and writes checkpoints, then tells the
others whether to stop.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def launched_world() -> int:
    """The number of processes torchrun launched (``WORLD_SIZE``; 1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes, initialising the group if launched
    by torchrun (``WORLD_SIZE`` > 1)."""
    world = launched_world()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def device_for_rank(device: torch.device) -> torch.device:
    """Under DDP on CUDA, each process takes the GPU of its local rank."""
    if dist.is_initialized() and device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The module to call in training: DDP-wrapped when distributed."""
    if not dist.is_initialized():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def broadcast_int(value: int, device: torch.device) -> int:
    """Process 0's value, on every process."""
    if not dist.is_initialized():
        return value
    backend_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor([value], device=backend_device)
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def is_main_process() -> bool:
    """True in a single process and in process 0 under torchrun."""
    return not dist.is_initialized() or dist.get_rank() == 0


def shutdown() -> None:
    """Destroy the process group, if any, while the interpreter is still whole.

    A gloo group left to the interpreter's exit can abort the process: its worker threads may
    still hold work objects with Python references, whose destruction then needs a GIL that is
    being torn down ("terminate called without an active exception", SIGABRT). One rank of the
    torchrun test died so once in 2026-12-06's CI run. Safe on each rank once training's last
    collective (the final barrier) is done; a no-op in a single process.
    """
    if dist.is_initialized():
        dist.destroy_process_group()
