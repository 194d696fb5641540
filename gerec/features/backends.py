"""Where a workspace's Feast store keeps its parts: the engines people already run, by configuration.

The embedded defaults — a SQLite online store, a file registry, DuckDB over Parquet offline,
materialization in-process — need nothing installed. The same store can instead use a Redis
online store (``redis://host:port/db``), a PostgreSQL SQL registry
(``postgresql://user@host:port/db``) and Feast's Ray compute engine for materialization
(``ray`` for a local Ray, ``ray://head:10001`` for a cluster). gerec itself never talks to
them: it writes the ``feature_store.yaml`` and every read and write goes through Feast.

A store on a shared server gets a Feast project of its own (``gerec_<8 hex>``), so two
workspaces never read each other's features; changing a backend starts a new project,
which the next ``materialize`` fills from the offline tables.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from gerec.artifacts import read_json, write_json
from gerec.errors import GerecError

BACKENDS_FILE = "backends.json"
DEFAULT_PROJECT = "gerec"
ONLINE_WRITE_BATCH = 50_000  # rows per online write during materialization


class BackendError(GerecError):
    """A backend setting gerec cannot use (the message names the accepted forms)."""


@dataclass(frozen=True)
class Backends:
    online: str = "sqlite"  # sqlite | redis://[:password@]host:port[/db] | rediss://… (TLS)
    registry: str = "file"  # file | postgresql://user[:password]@host:port/db
    engine: str = "local"  # local | ray (a local Ray) | ray://host:port (a Ray cluster)
    project: str = DEFAULT_PROJECT

    @property
    def embedded(self) -> bool:
        return self.online == "sqlite" and self.registry == "file"

    def same_stores(self, other: Backends) -> bool:
        return (self.online, self.registry) == (other.online, other.registry)


def parse(online: str | None = None, registry: str | None = None, engine: str | None = None,
          current: Backends | None = None) -> Backends:
    """The backends asked for, over ``current`` (a setting left None keeps its value), checked."""
    base = current or Backends()
    chosen = replace(base, **{k: v for k, v in (("online", online), ("registry", registry), ("engine", engine))
                              if v is not None})
    _online_yaml(chosen.online)
    _registry_yaml(chosen.registry)
    _engine_yaml(chosen.engine)
    if not chosen.same_stores(base) or (current is None and not chosen.embedded):
        chosen = replace(chosen, project=DEFAULT_PROJECT if chosen.embedded else f"gerec_{secrets.token_hex(4)}")
    return chosen


def load(root: Path) -> Backends:
    """The store's backends (the embedded defaults for a store that never chose any)."""
    path = root / BACKENDS_FILE
    if not path.exists():
        return Backends()
    saved = read_json(path)
    return Backends(**{k: saved[k] for k in ("online", "registry", "engine", "project") if k in saved})


def save(root: Path, backends: Backends) -> None:
    write_json(root / BACKENDS_FILE, asdict(backends))


def feature_store_yaml(backends: Backends) -> str:
    """The Feast repository configuration for ``backends`` (paths relative to the store's folder)."""
    lines = ["# Written by `gerec features apply` from backends.json; edit that (or rerun apply with",
             "# --online/--registry/--engine), not this file. Paths are relative to this folder, so a",
             "# copied or moved workspace uses its own embedded store.",
             f"project: {backends.project}", "provider: local",
             *_registry_yaml(backends.registry), "offline_store:", "  type: duckdb",
             *_online_yaml(backends.online), *_engine_yaml(backends.engine, backends.online != "sqlite"),
             # materialization writes online in batches of this many rows: bounded memory on any catalogue
             "materialization:", f"  online_write_batch_size: {ONLINE_WRITE_BATCH}",
             "entity_key_serialization_version: 3"]
    return "\n".join(lines) + "\n"


def _online_yaml(online: str) -> list[str]:
    if online == "sqlite":
        return ["online_store:", "  type: sqlite", "  path: online.db"]
    url = urlsplit(online)
    if url.scheme not in ("redis", "rediss") or not url.hostname:
        raise BackendError(f"online store '{online}': use 'sqlite' or a Redis URL like redis://127.0.0.1:6379/0")
    try:
        port = url.port or 6379
        db = int(url.path.strip("/") or 0)
    except ValueError as err:
        raise BackendError(f"online store '{online}': the port and database must be numbers "
                           "(redis://host:port/db)") from err
    parts = [f"{url.hostname}:{port}", f"db={db}"]
    if url.password:
        parts.append(f"password={unquote(url.password)}")
    if url.scheme == "rediss":
        parts.append("ssl=true")
    return ["online_store:", "  type: redis", f'  connection_string: "{",".join(parts)}"']


def _registry_yaml(registry: str) -> list[str]:
    if registry == "file":
        return ["registry:", "  path: registry.db",
                "  registry_store_type: gerec.features.registry.AtomicFileRegistryStore"]
    url = urlsplit(registry)
    if url.scheme not in ("postgresql", "postgresql+psycopg", "postgres") or not url.hostname or not url.path.strip("/"):
        raise BackendError(f"registry '{registry}': use 'file' or a PostgreSQL URL like "
                           "postgresql://postgres@127.0.0.1:5432/postgres")
    dsn = "postgresql+psycopg://" + registry.split("://", 1)[1]
    return ["registry:", "  registry_type: sql", f'  path: "{dsn}"', "  cache_ttl_seconds: 60",
            "  sqlalchemy_config_kwargs:", "    echo: false", "    pool_pre_ping: true"]


def _engine_yaml(engine: str, parallel_writes: bool = False) -> list[str]:
    """Feast's Ray compute engine; writers in parallel only where the online store takes them (not SQLite)."""
    if engine == "local":
        return []
    writes = f"  write_concurrency: {4 if parallel_writes else 1}"
    if engine == "ray":
        return ["batch_engine:", "  type: ray.engine", writes]
    if engine.startswith("ray://"):
        return ["batch_engine:", "  type: ray.engine", f'  ray_address: "{engine}"', writes]
    raise BackendError(f"engine '{engine}': use 'local', 'ray' (a local Ray) or a cluster address ray://host:port")


def describe(backends: Backends) -> dict[str, Any]:
    """The settings as JSON, with any password masked (for printing and reports)."""
    def masked(value: str) -> str:
        url = urlsplit(value)
        return value.replace(f":{url.password}@", ":***@") if url.password else value

    return {**asdict(backends), "online": masked(backends.online), "registry": masked(backends.registry)}
