"""Feast's file registry, written atomically.

Feast's own file store truncates ``registry.db`` and writes it in place: a process killed
during the write leaves an empty registry, and every later read fails. This store writes a
temporary file beside it and renames it over the old one, so a reader sees the previous
registry or the new one, never half of one. ``feature_store.yaml`` names it as the
registry's ``registry_store_type``, so the ``feast`` CLI uses it too.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from feast.infra.registry.file import FileRegistryStore
from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto
from feast.utils import _utc_now

from gerec.artifacts import atomic_file


class AtomicFileRegistryStore(FileRegistryStore):
    def _write_registry(self, registry_proto: RegistryProto) -> None:
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(_utc_now())
        with atomic_file(self._filepath) as tmp:
            write_synced(tmp, registry_proto.SerializeToString())


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` and flush it to disk before the rename makes it the registry."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
