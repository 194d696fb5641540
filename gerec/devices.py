"""Which torch device a run uses: ``auto`` (a GPU when torch sees one), ``cpu``, ``cuda[:N]`` or ``mps``.

One rule for training, evaluation, scoring and serving; ``$GEREC_DEVICE`` sets the default.
"""

from __future__ import annotations

import os

import torch

from gerec.errors import GerecError

DEVICE_ENV = "GEREC_DEVICE"
AVAILABLE = {"cuda": torch.cuda.is_available, "mps": lambda: torch.backends.mps.is_available()}


def set_threads(threads: int | None) -> None:
    """Torch's intra-op threads (None: torch's choice). On a shared box, more threads than free
    cores makes training up to 10× slower, so this is every command's ``--threads``."""
    if threads is not None:
        if threads < 1:
            raise GerecError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """The device ``name`` asks for (None: ``$GEREC_DEVICE``, else ``auto``); a clear error if absent."""
    if isinstance(name, torch.device):
        return name
    name = (name or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GerecError(f"unknown device '{name}'; choose auto, cpu, cuda, cuda:N or mps") from None
    if device.type not in ("cpu", *AVAILABLE):
        raise GerecError(f"unsupported device '{name}'; choose auto, cpu, cuda, cuda:N or mps")
    if device.type in AVAILABLE and not AVAILABLE[device.type]():
        raise GerecError(f"device '{name}' was asked for, but torch sees none on this machine: use cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise GerecError(f"device '{name}': this machine has {torch.cuda.device_count()} GPU(s)")
    return device
