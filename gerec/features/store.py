"""A workspace's Feast store: set up, ingest, materialize, read — all through Feast's API.

Layout (``<workspace>/feature_store/``, so two workspaces never share a store):
``feature_store.yaml`` and ``definitions.py`` (a real Feast repository: ``feast apply``
and ``feast materialize-incremental`` work inside it), ``registry.db``, ``online.db``
(SQLite), ``attributes.json``, ``backends.json`` and ``offline/<view>/part-*.parquet`` (the
DuckDB offline store's tables). ``backends.json`` may move the online store to Redis, the
registry to PostgreSQL and materialization onto Ray (:mod:`gerec.features.backends`).

Ingestion is append-only and row-level: a part holds only the rows whose content changed
since the latest version of their key, stamped with the ingestion time. Point-in-time joins
therefore see every version, a later score of an item overrides an earlier one, and
re-ingesting unchanged tables writes nothing. Each part is written atomically, so an
interrupted run leaves the store readable and a re-run completes it.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gerec.artifacts import atomic_file, write_json
from gerec.errors import GerecError
from gerec.features import backends as configured
from gerec.features.definitions import TABLE_OF, TIMESTAMP, VIEWS, attributes_of, offline_dir, workspace_objects
from gerec.features.tables import with_timestamp, workspace_tables
from gerec.workspace import Workspace

KEYS = {"item_attributes": ["item_id"], "item_base_reduced": ["item_id", "base_model"],
        "user_attributes": ["user_id"], "user_recent_items": ["user_id"]}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

DEFINITIONS_PY = '''\
"""Feast definitions of this gerec workspace (the same objects `gerec features apply` registers)."""

from pathlib import Path

from gerec.features.definitions import workspace_objects

(item, user, base_model, item_attributes_fv, item_base_reduced_fv, user_attributes_fv,
 user_recent_items_fv, item_attribute_scores_fv, user_attribute_scores_fv) = workspace_objects(Path(__file__).resolve().parent)
'''


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Feast prints banners and tqdm bars; gerec shows its own progress (and keeps --json clean)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _write_text_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        with atomic_file(path) as tmp:
            tmp.write_text(text, encoding="utf-8")


def open_store(ws: Workspace) -> Any:  # feast.FeatureStore (imported lazily: ~6 s)
    """The workspace's Feast store, registered for *this* folder.

    The registry records each view's Parquet source by absolute path (Feast's DuckDB store
    reads relative ones against the working directory). A registry that is unreadable, lacks
    a view, or points into another folder (the workspace was copied or moved) is registered
    again here, so no workspace ever reads or writes another's store; so is a store whose
    online database is gone (registering creates its tables; materialize then refills it).
    """
    root = ws.feature_store_dir
    if not (root / "feature_store.yaml").exists():
        raise GerecError(f"no feature store in {ws.root}: run `gerec features apply` first")
    with reaching(root):
        store = _feast(root)
        objects = workspace_objects(root)
        embedded_online = configured.load(root).online == "sqlite"
        if not _registered_here(store, objects) or (embedded_online and not (root / "online.db").exists()):
            with _quiet():
                store.apply(list(objects))  # apply creates the online tables
    return store


UNREACHABLE = ("ConnectionError", "OperationalError", "TimeoutError", "ConnectionRefusedError")


@contextlib.contextmanager
def reaching(root: Path) -> Iterator[None]:
    """A server backend that does not answer is a one-line error naming it, not a driver traceback."""
    try:
        yield
    except Exception as err:
        if type(err).__name__ not in UNREACHABLE:
            raise
        used = configured.describe(configured.load(root))
        raise GerecError(f"the feature store's backends (online {used['online']}, registry {used['registry']}) "
                         f"did not answer: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}; "
                         "is the server running? (`gerec features apply --online sqlite --registry file` "
                         "returns to the embedded store)") from err


def _feast(root: Path) -> Any:
    from feast import FeatureStore

    # written from backends.json every time (older workspaces had absolute paths)
    _write_text_if_changed(root / "feature_store.yaml", configured.feature_store_yaml(configured.load(root)))
    with _quiet():
        return FeatureStore(repo_path=str(root))


def _registered_here(store: Any, objects: Any) -> bool:
    """True when the registry holds every view with the sources of this folder."""
    try:
        with _quiet():
            registered = {fv.name: fv.batch_source.path for fv in store.list_feature_views()}
    except Exception:  # noqa: BLE001 - any unreadable registry is re-registered, whatever Feast raised
        return False
    return all(registered.get(fv.name) == fv.batch_source.path for fv in objects.views)


def apply(ws: Workspace, online: str | None = None, registry: str | None = None,
          engine: str | None = None) -> dict[str, Any]:
    """Write the repository files and register entities and views (idempotent).

    ``online`` / ``registry`` / ``engine`` choose the backends (see
    :mod:`gerec.features.backends`); left None, the store keeps the ones it has."""
    manifest = ws.guided_manifest()
    root = ws.feature_store_dir
    root.mkdir(parents=True, exist_ok=True)
    descriptions = {a["name"]: a.get("description", "") for a in manifest["schema"]["attributes"]}
    attributes = [{"name": n, "description": descriptions.get(n, "")} for n in manifest["attributes"]]
    old = attributes_of(root) if (root / "attributes.json").exists() else attributes
    if old != attributes:
        old = [a["name"] for a in old]
        raise GerecError(f"the store in {root} holds other attributes ({', '.join(old)}); "
                         "remove the folder to rebuild it for the new schema")
    current = configured.load(root) if (root / configured.BACKENDS_FILE).exists() else None
    chosen = configured.parse(online, registry, engine, current)
    write_json(root / "attributes.json", attributes)
    configured.save(root, chosen)
    for name, text in (("feature_store.yaml", configured.feature_store_yaml(chosen)), ("definitions.py", DEFINITIONS_PY)):
        _write_text_if_changed(root / name, text)
    objects = workspace_objects(root)
    for table in VIEWS:
        if not _parts(root, table):  # a source's glob must match a file, even before any ingestion
            with atomic_file(offline_dir(root) / table / "part-0-empty.parquet") as tmp:
                pq.write_table(_empty_table(table, [fv for fv in objects.views if TABLE_OF[fv.name] == table]), tmp)
    with reaching(root), _quiet():
        feast_store = _feast(root)
        feast_store.apply(list(objects))
        if chosen.online != "sqlite":  # a server that does not answer is found now, not at materialize
            feast_store.get_online_features(features=["user_recent_items:recent_items"], entity_rows=[{"user_id": 0}])
    return {"store": str(root), "backends": configured.describe(chosen), "entities": [e.name for e in objects[:3]],
            "feature_views": {fv.name: [f.name for f in fv.features] for fv in objects.views}}


ARROW_TYPES = {"Float32": pa.float32(), "Int64": pa.int64(), "String": pa.string(),
               "Array(Float32)": pa.list_(pa.float32()), "Array(Int64)": pa.list_(pa.int64())}
KEY_TYPES = {"item_id": pa.int64(), "user_id": pa.int64(), "base_model": pa.string()}


def _empty_table(table: str, views: list[Any]) -> pa.Table:
    """A zero-row table with the columns of every view that reads it (keys, features, row hash, timestamp)."""
    fields = [pa.field(k, KEY_TYPES[k]) for k in KEYS[table]]
    features = {f.name: f.dtype for fv in views for f in fv.features}
    fields += [pa.field(name, ARROW_TYPES[str(dtype)]) for name, dtype in features.items()]
    fields += [pa.field("row_hash", pa.string()), pa.field(TIMESTAMP, pa.timestamp("us", tz="UTC"))]
    return pa.schema(fields).empty_table()


def _parts(root: Path, view: str) -> list[Path]:
    return sorted((offline_dir(root) / view).glob("*.parquet"))


def ingest_table(root: Path, view: str, table: pa.Table, stamp: datetime | None = None) -> int:
    """Append the rows of ``table`` that differ from their key's latest stored version; returns how many."""
    keys = KEYS[view]
    stamp = stamp or datetime.now(timezone.utc)
    con = duckdb.connect()
    con.register("incoming", table)
    hashed = con.sql("SELECT *, md5(CAST(incoming AS VARCHAR)) AS row_hash FROM incoming")
    parts = _parts(root, view)
    if parts:
        key_list = ", ".join(keys)  # gerec's own column names; file paths are bound, never formatted in
        con.execute(f"""CREATE TEMP TABLE latest AS SELECT {key_list}, row_hash FROM read_parquet($files)
                        QUALIFY row_number() OVER (PARTITION BY {key_list} ORDER BY {TIMESTAMP} DESC) = 1""",
                    {"files": [str(p) for p in parts]})
        same = " AND ".join(f"h.{k} = l.{k}" for k in keys)
        hashed = con.sql(f"SELECT h.* FROM hashed h ANTI JOIN latest l ON {same} AND h.row_hash = l.row_hash")
    new = hashed.to_arrow_table()
    if new.num_rows == 0:
        return 0
    new = with_timestamp(new, stamp)
    if parts:  # every part of a view has the same columns, in the same order, of the same types
        schema = pq.read_schema(parts[0])
        if set(schema.names) != set(new.schema.names):
            raise GerecError(f"{view}: columns {sorted(new.schema.names)} do not match the store's "
                             f"{sorted(schema.names)}; was the store applied for another schema?")
        new = new.select(schema.names).cast(schema)
    path = offline_dir(root) / view / f"part-{stamp:%Y%m%dT%H%M%S%f}.parquet"
    with atomic_file(path) as tmp:
        pq.write_table(new, tmp)
    return new.num_rows


def attributes_of_workspace(ws: Workspace) -> list[dict[str, str]]:
    """The store's attributes; a clear error when ``gerec features apply`` never ran."""
    return attributes_of(ws.feature_store_dir)


def ingest(ws: Workspace, tables: dict[str, pa.Table] | None = None) -> dict[str, int]:
    """Ingest the workspace's current tables (or ``tables``) into the offline store."""
    root = ws.feature_store_dir
    attributes_of_workspace(ws)
    tables = workspace_tables(ws) if tables is None else tables
    stamp = datetime.now(timezone.utc)
    return {view: ingest_table(root, view, table, stamp) for view, table in tables.items()}


def _count(root: Path, view: str, start: datetime, end: datetime) -> tuple[int, int]:
    """Rows stamped in (start, end] and distinct keys among them: what a materialization moves."""
    parts = _parts(root, view)
    if not parts:
        return 0, 0
    keys = ", ".join(KEYS[view])
    (rows, entities), = duckdb.execute(f"""SELECT count(*), count(DISTINCT ({keys})) FROM read_parquet($files)
        WHERE {TIMESTAMP} > $start AND {TIMESTAMP} <= $end""",
                                       {"files": [str(p) for p in parts], "start": start, "end": end}).fetchall()
    return int(rows), int(entities)


def materialize(ws: Workspace, incremental: bool = True, views: Sequence[str] | None = None,
                console: Console | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Move the latest offline values into the online store, view by view.

    Incremental (default): each view from where its last materialization ended. Full: from
    the epoch. Writes are upserts, so re-running is harmless, and a view interrupted midway
    is redone from its last completed interval on the next run.
    """
    console = console or Console(stderr=True)
    store = open_store(ws)
    root = ws.feature_store_dir
    views = list(views or VIEWS)
    end = datetime.now(timezone.utc)
    report: dict[str, Any] = {"mode": "incremental" if incremental else "full", "end": end.isoformat(), "views": {}}
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, disable=not show_progress, transient=True) as progress:
        task = progress.add_task("materialize", total=len(views))
        for view in views:
            progress.update(task, description=f"materialize {view}")
            fv = store.get_feature_view(view)
            start = (fv.most_recent_end_time or EPOCH) if incremental else EPOCH
            if start.tzinfo is None:
                start = start.replace(tzinfo=timezone.utc)
            rows, entities = _count(root, view, start, end)
            started = time.perf_counter()
            with reaching(root), _quiet():
                store.materialize(start_date=start, end_date=end, feature_views=[view])
            report["views"][view] = {"start": start.isoformat(), "rows": rows, "entities": entities,
                                     "seconds": round(time.perf_counter() - started, 3)}
            progress.advance(task)
    return report


def _entity_frame(keys: dict[str, Sequence[Any]], at: datetime | None) -> pd.DataFrame:
    frame = pd.DataFrame(keys)
    frame[TIMESTAMP] = pd.Timestamp(at or datetime.now(timezone.utc))
    return frame


def read_offline(ws: Workspace, features: list[str], keys: dict[str, Sequence[Any]],
                 at: datetime | None = None, full_names: bool = False) -> pd.DataFrame:
    """Point-in-time values of ``features`` ("view:field") for the entity ``keys`` as of ``at`` (now).

    ``full_names`` names columns ``view__field`` (needed when two views share a field name).
    """
    store = open_store(ws)
    with _quiet():
        frame = store.get_historical_features(entity_df=_entity_frame(keys, at), features=features,
                                              full_feature_names=full_names).to_df()
    first = next(iter(keys))
    return frame.sort_values(list(keys)).reset_index(drop=True) if first in frame else frame


def read_online(ws: Workspace, features: list[str], keys: dict[str, Sequence[Any]], store: Any = None,
                full_names: bool = False) -> dict[str, list[Any]]:
    """Latest online values of ``features`` for the entity ``keys`` (columns as lists)."""
    store = store or open_store(ws)
    n = len(next(iter(keys.values())))
    rows = [{k: v[i] for k, v in keys.items()} for i in range(n)]
    return store.get_online_features(features=features, entity_rows=rows, full_feature_names=full_names).to_dict()


def vectors(frame: pd.DataFrame, column: str, ids: np.ndarray, id_column: str) -> np.ndarray:
    """Stack a list-valued column into (len(ids), width), in the order of ``ids``; a missing id is an error."""
    found = frame.dropna(subset=[column])
    lookup = dict(zip(found[id_column].to_numpy(), found[column]))
    missing = [int(i) for i in ids if i not in lookup]
    if missing:
        raise GerecError(f"the feature store has no '{column}' for {len(missing)} {id_column}s "
                         f"(first: {missing[0]}): run `gerec features materialize`")
    return np.stack([np.asarray(lookup[i], dtype=np.float32) for i in ids])
