"""Feast objects for a workspace: entities, Parquet sources and feature views.

One function builds them so that gerec's Python API and the ``feast`` CLI (run inside a
feature repository whose ``definitions.py`` calls it) register exactly the same objects.
Attribute names become snake_case field names ("story complexity" → ``story_complexity``);
the schema's descriptions travel along as field descriptions.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Array, Float32, Int64, String

from gerec.artifacts import read_json
from gerec.errors import GerecError

TIMESTAMP = "event_timestamp"
VIEWS = ("item_attributes", "item_base_reduced", "user_attributes", "user_recent_items")


class FeatureObjects(NamedTuple):
    item: Entity
    user: Entity
    base_model: Entity
    item_attributes_fv: FeatureView
    item_base_reduced_fv: FeatureView
    user_attributes_fv: FeatureView
    user_recent_items_fv: FeatureView


def field_name(attribute: str) -> str:
    """A Feast/SQL-safe field name for an attribute ("family friendliness" → "family_friendliness")."""
    return re.sub(r"[^0-9a-z]+", "_", attribute.lower()).strip("_")


def offline_dir(store_dir: Path) -> Path:
    """Where a store's offline tables live: one folder of Parquet parts per feature view."""
    return store_dir / "offline"


def _source(store_dir: Path, view: str) -> FileSource:
    # Absolute paths: the DuckDB offline store resolves relative ones against the working directory.
    return FileSource(name=f"{view}_source", path=str(offline_dir(store_dir).resolve() / view / "*.parquet"),
                      file_format=ParquetFormat(), timestamp_field=TIMESTAMP)


def feature_objects(store_dir: Path, attributes: list[dict[str, str]]) -> FeatureObjects:
    """Entities and feature views for attributes ``[{"name", "description"}, ...]``."""
    names = [field_name(a["name"]) for a in attributes]
    if len(set(names)) != len(names):
        raise GerecError(f"attribute names collide as feature names: {names}")
    # An item of the catalogue (dense gerec id).
    item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.INT64, description="catalogue item")
    # A user with a history (dense gerec id).
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64, description="user")
    # The base recommender whose embeddings were reduced (gru4rec, sasrec, bert4rec).
    base_model = Entity(name="base_model", join_keys=["base_model"], value_type=ValueType.STRING,
                        description="base sequential model")
    scores = [Field(name=n, dtype=Float32, description=a.get("description", "")) for n, a in zip(names, attributes)]
    never = timedelta(0)  # features never expire; a newer version replaces an older one
    # The language model's attribute scores of each item (1–9), per attribute and as one vector.
    item_attributes_fv = FeatureView(
        name="item_attributes", entities=[item], ttl=never, source=_source(store_dir, "item_attributes"),
        schema=[*scores, Field(name="vector", dtype=Array(Float32)), Field(name="content_hash", dtype=String)],
        description="guided embeddings of items: language-model attribute scores")
    # The base model's item embeddings reduced to k = d − m dimensions.
    item_base_reduced_fv = FeatureView(
        name="item_base_reduced", entities=[item, base_model], ttl=never, source=_source(store_dir, "item_base_reduced"),
        schema=[Field(name="vector", dtype=Array(Float32)), Field(name="reduction", dtype=String)],
        description="reduced base item embeddings, keyed by the base model that produced them")
    # The language model's attribute scores of each user, from their recent train items.
    user_attributes_fv = FeatureView(
        name="user_attributes", entities=[user], ttl=never, source=_source(store_dir, "user_attributes"),
        schema=[*scores, Field(name="vector", dtype=Array(Float32)), Field(name="content_hash", dtype=String)],
        description="guided embeddings of users: language-model attribute scores")
    # Each user's most recent item ids, oldest first (what a recommendation request starts from).
    user_recent_items_fv = FeatureView(
        name="user_recent_items", entities=[user], ttl=never, source=_source(store_dir, "user_recent_items"),
        schema=[Field(name="recent_items", dtype=Array(Int64))],
        description="each user's most recent item ids, oldest first")
    return FeatureObjects(item, user, base_model, item_attributes_fv, item_base_reduced_fv, user_attributes_fv,
                          user_recent_items_fv)


def attributes_of(store_dir: Path) -> list[dict[str, str]]:
    """The attributes a store was set up for (saved by ``gerec features apply``)."""
    path = store_dir / "attributes.json"
    if not path.exists():
        raise GerecError(f"no feature store in {store_dir}: run `gerec features apply` first")
    return read_json(path)


def workspace_objects(store_dir: str | Path) -> FeatureObjects:
    """The objects of the store in ``store_dir`` (what a repository's ``definitions.py`` calls)."""
    store_dir = Path(store_dir)
    return feature_objects(store_dir, attributes_of(store_dir))
