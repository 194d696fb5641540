"""Base-model verb: train GRU4Rec, SASRec or BERT4Rec on the workspace's dataset."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from gerec.names import DEFAULT_MODEL
from gerec.steps.data import sequences
from gerec.training import TrainResult, configs_from, train
from gerec.workspace import Workspace


def train_base(ws: Workspace, model: str = DEFAULT_MODEL, settings: dict[str, Any] | None = None,
               resume: bool = False, device: str | None = None, console: Console | None = None,
               show_progress: bool = True) -> TrainResult:
    """Train ``model`` with full cross-entropy and early stopping into ``models/base-<model>``.

    ``settings`` is one flat mapping of architecture and training settings (``dim``,
    ``epochs``, ``lr`` ...; an unknown key is an error naming the nearest valid one).
    """
    model_config, train_config = configs_from(settings or {}, model)
    return train(sequences(ws), model_config, train_config, ws.model_dir("base", model), resume=resume,
                 data_files=ws.data_manifest()["files"], device=device, console=console,
                 show_progress=show_progress)
