"""The workspace: one folder per project holding every artifact gerec writes.

Paths live here and nowhere else, so every stage agrees on where things are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerec.artifacts import read_json
from gerec.errors import DataError

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

    def reduced_path(self, base_model: str) -> Path:
        """Reduced base item embeddings of one base model (``features/reduced/<model>.parquet``)."""
        return self.features_dir / "reduced" / f"{base_model}.parquet"

    @property
    def feature_store_dir(self) -> Path:
        """This workspace's Feast repository: registry, online store and offline tables."""
        return self.root / "feature_store"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    # -- trained models ----------------------------------------------------------------------
    def model_dir(self, stage: str, model: str) -> Path:
        """``models/<stage>-<model>``, e.g. ``models/base-sasrec``."""
        return self.root / "models" / f"{stage}-{model}"

    def has_dataset(self) -> bool:
        return self.data_manifest_path.exists()

    def data_manifest(self) -> dict[str, Any]:
        """The dataset manifest, or a clear error saying how to create one."""
        if not self.has_dataset():
            raise DataError(
                f"no dataset in workspace {self.root}: run `gerec data import` or `gerec data synth` first"
            )
        return read_json(self.data_manifest_path)
