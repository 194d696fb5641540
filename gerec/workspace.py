"""The workspace: one folder per project holding every artifact gerec writes.

Paths live here and nowhere else, so every step agrees on where things are. Only the
workspace verbs (``gerec.steps``), serving and the CLI know of workspaces; the cores
(models, refinement math, scorers, index, metrics) take arrays and folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerec.artifacts import read_json
from gerec.errors import DataError
from gerec.names import VARIANTS

DEFAULT_WORKSPACE = "gerec-workspace"


@dataclass(frozen=True)
class Workspace:
    """A gerec workspace rooted at ``root`` (default ``./gerec-workspace`` or $GEREC_WORKSPACE)."""

    root: Path

    @classmethod
    def resolve(cls, root: str | Path | None = None) -> "Workspace":
        root = root or os.environ.get("GEREC_WORKSPACE") or DEFAULT_WORKSPACE
        return cls(Path(root).expanduser().resolve())

    # -- canonical dataset (written by `gerec data import`) --------------------------------
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def interactions_path(self) -> Path:
        return self.data_dir / "interactions.parquet"

    @property
    def items_path(self) -> Path:
        return self.data_dir / "items.parquet"

    @property
    def id_map_path(self) -> Path:
        return self.data_dir / "id_map.parquet"

    @property
    def data_manifest_path(self) -> Path:
        return self.data_dir / "manifest.json"

    # -- synthetic raw dataset (written by `gerec data synth`) ----------------------------
    @property
    def synthetic_dir(self) -> Path:
        return self.root / "synthetic"

    # -- guided embeddings and features -----------------------------------------------------
    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def guided_manifest_path(self) -> Path:
        return self.features_dir / "guided_manifest.json"

    @property
    def item_attributes_path(self) -> Path:
        return self.features_dir / "item_attributes.parquet"

    @property
    def user_attributes_path(self) -> Path:
        return self.features_dir / "user_attributes.parquet"

    @property
    def score_cache_dir(self) -> Path:
        """Raw language-model scores keyed by content hash (what makes scoring resumable)."""
        return self.features_dir / "cache"

    def adapter_dir(self, backend: str, domain: str) -> Path:
        """LoRA adapters of a fine-tuned scorer, ``adapters/<backend>-<domain>``."""
        return self.root / "adapters" / f"{backend}-{domain}"

    @property
    def reduced_dir(self) -> Path:
        return self.features_dir / "reduced"

    def reduced_path(self, base_model: str) -> Path:
        """Reduced base item embeddings of one base model (``features/reduced/<model>.parquet``)."""
        return self.reduced_dir / f"{base_model}.parquet"

    @property
    def feature_store_dir(self) -> Path:
        """This workspace's Feast repository: registry, online store and offline tables."""
        return self.root / "feature_store"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def results_path(self) -> Path:
        """The latest comparison (``gerec evaluate``), with ``results.md`` beside it."""
        return self.reports_dir / "results.json"

    @property
    def pipeline_path(self) -> Path:
        """What `gerec run` recorded per stage (keys and output fingerprints)."""
        return self.root / "pipeline.json"

    # -- trained models and indexes ---------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def model_dir(self, variant: str, model: str) -> Path:
        """``models/<variant>-<model>``, e.g. ``models/base-sasrec``."""
        return self.models_dir / f"{variant}-{model}"

    def trained(self, variant: str | None = None) -> list[tuple[str, str]]:
        """(variant, model) of every finished training run (a ``model.safetensors``), sorted."""
        found = []
        for folder in sorted(self.models_dir.glob("*-*")):
            kind, _, model = folder.name.partition("-")
            if kind in VARIANTS and (variant is None or kind == variant) and (folder / "model.safetensors").exists():
                found.append((kind, model))
        return found

    @property
    def indexes_dir(self) -> Path:
        return self.root / "indexes"

    def index_dir(self, name: str) -> Path:
        """``indexes/<name>``; a name is one folder name, so no index is written outside the workspace."""
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise DataError(f"index name '{name}' must be a plain folder name (no '/', not '.' or '..')")
        return self.indexes_dir / name

    def has_dataset(self) -> bool:
        return self.data_manifest_path.exists()

    def data_manifest(self) -> dict[str, Any]:
        """The dataset manifest, or a clear error saying how to create one."""
        if not self.has_dataset():
            raise DataError(
                f"no dataset in workspace {self.root}: run `gerec data import` or `gerec data synth` first"
            )
        return read_json(self.data_manifest_path)

    def guided_manifest(self) -> dict[str, Any]:
        """What the last scoring wrote (scorer, schema, attributes, calibration); a clear error before any."""
        if not self.guided_manifest_path.exists():
            raise DataError(f"no guided scores in {self.features_dir}: score items and users first "
                            "(`gerec guided score`)")
        return read_json(self.guided_manifest_path)
