"""``distributed.shutdown`` destroys a real process group and is a no-op without one."""

from __future__ import annotations

import torch.distributed as dist

from segue.training import distributed


def test_shutdown_destroys_the_group_and_is_a_no_op_without_one(tmp_path):
    distributed.shutdown()  # no group: nothing to do
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    assert dist.is_initialized()
    distributed.shutdown()
    assert not dist.is_initialized()
    distributed.shutdown()  # twice: still fine
