"""The feature-store stage of a workspace: reduce base models, ingest, materialize."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from gerec.features import store
from gerec.refine.stages import reduce_base_model
from gerec.workspace import Workspace


def trained_base_models(ws: Workspace) -> list[str]:
    return sorted(p.name.removeprefix("base-") for p in (ws.root / "models").glob("base-*")
                  if (p / "model.safetensors").exists())


def materialize_workspace(ws: Workspace, reduction: str = "pca", k: int | None = None, incremental: bool = True,
                          base_models: list[str] | None = None, console: Console | None = None,
                          show_progress: bool = True) -> dict[str, Any]:
    """Reduce each trained base model, ingest every table that changed, and materialize online."""
    store.attributes_of_workspace(ws)
    reduced = [reduce_base_model(ws, name, reduction, k) for name in (base_models or trained_base_models(ws))]
    ingested = store.ingest(ws)
    report = store.materialize(ws, incremental=incremental, console=console, show_progress=show_progress)
    return {"reduced": reduced, "ingested": ingested, **report}
