"""Feast objects for a workspace: entities, Parquet sources and feature views.

One function builds them so that gerec's Python API and the ``feast`` CLI (run inside a
feature repository whose ``definitions.py`` calls it) register exactly the same objects.
Attribute names become snake_case field names ("story complexity" → ``story_complexity``);
the schema's descriptions travel along as field descriptions.

The online views hold only what serving and training read — one vector per entity — because
Feast's online stores write and read one row per *field*: twelve per-attribute fields made
materializing 100,000 items take 39 s. The per-attribute fields live in offline-only views
(``*_attribute_scores``, ``online=False``) over the same Parquet tables, for analysis and
point-in-time reads.
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
VIEWS = ("item_attributes", "item_base_reduced", "user_attributes", "user_recent_items")  # online, materialized
# view → the offline table (folder) it reads: the per-attribute views are offline-only twins
TABLE_OF = {**{v: v for v in VIEWS}, "item_attribute_scores": "item_attributes",
            "user_attribute_scores": "user_attributes"}


class FeatureObjects(NamedTuple):
    item: Entity
    user: Entity
    base_model: Entity
    item_attributes_fv: FeatureView
    item_base_reduced_fv: FeatureView
    user_attributes_fv: FeatureView
    user_recent_items_fv: FeatureView
    item_attribute_scores_fv: FeatureView
    user_attribute_scores_fv: FeatureView

    @property
    def views(self) -> tuple[FeatureView, ...]:
        return tuple(self[3:])


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
    vector = Field(name="vector", dtype=Array(Float32), description="the attribute scores in schema order")
    never = timedelta(0)  # features never expire; a newer version replaces an older one
    source = {table: _source(store_dir, table) for table in VIEWS}  # one object per table: Feast wants unique names

    def attribute_views(kind: str, entity: Entity) -> tuple[FeatureView, FeatureView]:
        """The language model's scores (1–9) of items or users: one vector online (what training
        and serving read), and one field per attribute with the content hash they were scored from,
        offline only."""
        table = source[f"{kind}_attributes"]
        online = FeatureView(name=f"{kind}_attributes", entities=[entity], ttl=never, source=table, schema=[vector],
                             description=f"guided embeddings of {kind}s: language-model attribute scores")
        offline = FeatureView(name=f"{kind}_attribute_scores", entities=[entity], ttl=never, online=False,
                              source=table, schema=[*scores, vector, Field(name="content_hash", dtype=String)],
                              description=f"{kind}s' language-model attribute scores, one field per attribute "
                                          "(offline only)")
        return online, offline

    item_attributes_fv, item_attribute_scores_fv = attribute_views("item", item)
    # users are scored from their recent train items
    user_attributes_fv, user_attribute_scores_fv = attribute_views("user", user)
    # The base model's item embeddings reduced to k = d − m dimensions.
    item_base_reduced_fv = FeatureView(
        name="item_base_reduced", entities=[item, base_model], ttl=never, source=source["item_base_reduced"],
        schema=[Field(name="vector", dtype=Array(Float32)), Field(name="reduction", dtype=String)],
        description="reduced base item embeddings, keyed by the base model that produced them")
    # Each user's most recent item ids, oldest first (what a recommendation request starts from).
    user_recent_items_fv = FeatureView(
        name="user_recent_items", entities=[user], ttl=never, source=source["user_recent_items"],
        schema=[Field(name="recent_items", dtype=Array(Int64))],
        description="each user's most recent item ids, oldest first")
    return FeatureObjects(item, user, base_model, item_attributes_fv, item_base_reduced_fv, user_attributes_fv,
                          user_recent_items_fv, item_attribute_scores_fv, user_attribute_scores_fv)


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
