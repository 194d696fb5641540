"""Data-parallel training under ``torchrun``: which process this is, and which one writes.

``torchrun --nproc_per_node N -m gerec_cli base train ...`` starts N copies of the command
with ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set. Training then joins a process group (gloo on
CPU, NCCL on CUDA, one GPU per local rank), wraps the model in DistributedDataParallel and
gives each process its share of every batch; gradients are averaged, so the N copies keep
identical weights and take identical early-stopping decisions. Only rank 0 writes
checkpoints, metrics and the published model. Without ``torchrun`` nothing here does anything.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # torch is imported where it is used: the CLI asks world() before any heavy import
    import torch


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def is_writer() -> bool:
    return world()[0] == 0


def join(device: torch.device) -> torch.device:
    """Join the process group if torchrun started several processes; the device this rank uses."""
    rank, size = world()
    if size == 1:
        return device
    import torch

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=size)
    return device


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model as the training step calls it: DistributedDataParallel across the group, or itself."""
    if world()[1] == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


Rows = TypeVar("Rows")  # a tensor or an array: anything sliced by [start::step]


def my_share(rows: Rows) -> Rows:
    """This rank's rows of a batch (all of them alone; every rank keeps at least one row)."""
    rank, size = world()
    return rows if size == 1 or len(rows) < size else rows[rank::size]  # type: ignore[index]


def mean_over_ranks(sums: dict[str, float], count: int, device: torch.device) -> dict[str, float]:
    """Each metric's mean over every rank's users, from this rank's sums over its ``count`` users
    (each rank validates its own share, rather than every rank validating everyone)."""
    if world()[1] > 1:
        import torch

        totals = torch.tensor([*sums.values(), count], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(totals)
        sums, count = dict(zip(sums, totals[:-1].tolist())), int(totals[-1].item())
    return {name: value / count if count else 0.0 for name, value in sums.items()}


def barrier() -> None:
    if world()[1] > 1:
        import torch

        if torch.distributed.is_initialized():
            torch.distributed.barrier()
