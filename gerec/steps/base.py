"""Base-model verb: train GRU4Rec, SASRec or BERT4Rec on the workspace's dataset."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console

from gerec.artifacts import read_json
from gerec.errors import GerecError
from gerec.names import DEFAULT_MODEL
from gerec.steps.data import sequences
from gerec.training import TrainResult, configs_from, replica_settings, train
from gerec.workspace import Workspace


def train_base(ws: Workspace, model: str = DEFAULT_MODEL, settings: dict[str, Any] | None = None,
               resume: bool = False, device: str | None = None, console: Console | None = None,
               show_progress: bool = True) -> TrainResult:
    """Train ``model`` with full cross-entropy and early stopping into ``models/base-<model>``.

    ``settings`` is one flat mapping of architecture and training settings (``dim``,
    ``epochs``, ``lr`` ...; an unknown key is an error naming the nearest valid one).
    ``model`` may name a replica of a multi-seed comparison (``sasrec-seed1``: seed + 1).
    """
    architecture, settings = replica_settings(model, settings)
    model_config, train_config = configs_from(settings, architecture)
    return train(sequences(ws), model_config, train_config, ws.model_dir("base", model), resume=resume,
                 data_files=ws.data_manifest()["files"], device=device, console=console,
                 show_progress=show_progress)


def effective_settings(model: str = DEFAULT_MODEL, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings `train_base` would train ``model`` with, every default filled in (``max_len``
    and ``loss`` stay unset / auto until training reads the data). A bad setting fails here, before
    any work; and a record of them tells one release's defaults from another's."""
    architecture, merged = replica_settings(model, settings)
    model_config, train_config = configs_from(merged, architecture)
    return {"model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config)}


def continue_base(ws: Workspace, model: str = DEFAULT_MODEL, epochs: int | None = None,
                  settings: dict[str, Any] | None = None, device: str | None = None, console: Console | None = None,
                  show_progress: bool = True) -> TrainResult:
    """The base-continued control arm (PROTOCOL.md): the trained base model, trained further with
    its own settings for exactly ``epochs`` more epochs (default: as many as the refined arm ran),
    into ``models/continued-<model>``. Refined vs base includes extra training from a warm start;
    refined vs this arm does not."""
    base_dir = ws.model_dir("base", model)
    if not (base_dir / "model.safetensors").exists():
        raise GerecError(f"no base model '{model}' in {ws.root}: train it first (`gerec base train --model {model}`)")
    if epochs is None:
        refined = ws.model_dir("refined", model) / "metrics.json"
        if not refined.exists():
            raise GerecError(f"the continued arm runs as long as the refined one: train `refined-{model}` first, "
                             "or give the number of epochs")
        epochs = int(read_json(refined)["epochs"])
    architecture, settings = replica_settings(model, settings, inherit_seed=True)
    base = read_json(base_dir / "config.json")
    merged = {**base["model"], **base["train"], **settings, "epochs": epochs, "patience": epochs}
    merged.pop("model", None)
    model_config, train_config = configs_from(merged, architecture)
    return train(sequences(ws), model_config, train_config, ws.model_dir("continued", model),
                 data_files=ws.data_manifest()["files"], device=device, console=console,
                 show_progress=show_progress, init=base_dir)
