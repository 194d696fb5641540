"""Atomic artifact writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are for people to open
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


VERSION = re.compile(r"\.(?P<name>.+)\.v(?P<pid>\d+)-[0-9a-z_]+$")  # .<name>.v<pid>-<token>


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_versions(path: str | Path) -> None:
    """Remove what interrupted swaps of ``path`` left: versions nothing points to whose writer
    is gone, and the ``.tmp`` / ``.old`` folders of the older swap scheme."""
    path = Path(path)
    current = os.readlink(path) if path.is_symlink() else None
    for entry in path.parent.glob(f".{glob.escape(path.name)}.*"):
        match = VERSION.fullmatch(entry.name)
        if match and match["name"] == path.name:
            pid = int(match["pid"])
            if entry.name == current or (pid != os.getpid() and _alive(pid)):
                continue  # the published version, or one a live process is writing
        elif not entry.name.endswith((".tmp", ".old")):
            continue  # e.g. a resumable ``.partial`` training folder
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def publish_dir(staged: str | Path, path: str | Path) -> None:
    """Make the finished folder ``staged`` the content of ``path``, with no moment in which
    ``path`` is missing or half written.

    ``path`` is a relative symbolic link to a versioned sibling folder
    (``.<name>.v<pid>-<token>``); publishing renames ``staged`` to a new version and replaces
    the link in one rename, then deletes the previous version. A copied workspace keeps
    working (the link is relative; a copy that follows links gets a plain folder, which the
    next publish moves aside once).
    """
    staged, path = Path(staged), Path(path)
    parent = path.parent
    version = staged
    if not VERSION.fullmatch(staged.name):
        version = parent / f".{path.name}.v{os.getpid()}-{secrets.token_hex(4)}"
        os.replace(staged, version)
    os.chmod(version, 0o777 & ~_umask())
    previous = os.readlink(path) if path.is_symlink() else None
    link = parent / f".{path.name}.link-{secrets.token_hex(4)}.tmp"
    os.symlink(version.name, link)
    if path.exists() and not path.is_symlink():  # a plain folder (older gerec, or a copy): moved aside once
        os.replace(path, parent / f".{path.name}.v0-{secrets.token_hex(4)}")
    os.replace(link, path)
    if previous and previous != version.name:
        shutil.rmtree(parent / previous, ignore_errors=True)
    clean_versions(path)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty folder to fill; if the block succeeds it becomes ``path`` at once
    (:func:`publish_dir`); if it fails, ``path`` keeps its previous content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_versions(path)
    staged = Path(tempfile.mkdtemp(prefix=f".{path.name}.v{os.getpid()}-", dir=path.parent))
    try:
        yield staged
        publish_dir(staged, path)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented, standard JSON, atomically: NaN and infinities (e.g. the gain
    in a bucket with no test events) become ``null``, which every JSON reader accepts."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(_finite(obj), indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, so a manifest can tell whether its input changed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def digest_files(folder: str | Path, pattern: str) -> str:
    """Short content hash of the files matching ``pattern`` in ``folder`` (e.g. adapter weights)."""
    digest = hashlib.sha256()
    for file in sorted(Path(folder).glob(pattern)):
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
