"""Attribute schemas: the named, human-readable axes a language model scores items on.

A schema is a YAML file: a ``domain``, and 2+ ``attributes``, each with a ``name``, a
one-line ``description`` and ``low``/``high`` phrases describing its two ends. Shipped
schemas: movies, clothing, games, beauty, generic (8-10 attributes) and the richer movies-extended (21),
games-extended (20) and beauty-extended (18); any other file path works too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from gerec.errors import GerecError

SCHEMA_DIR = Path(__file__).parent / "schemas"
ATTRIBUTE_KEYS = ("name", "description", "low", "high")


class SchemaError(GerecError):
    """A schema file that cannot be used (the message names the file and attribute)."""


@dataclass(frozen=True)
class Attribute:
    name: str
    description: str
    low: str
    high: str


@dataclass(frozen=True)
class Schema:
    domain: str
    attributes: tuple[Attribute, ...]
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def __len__(self) -> int:
        return len(self.attributes)

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "description": self.description,
                "attributes": [asdict(a) for a in self.attributes]}

    def digest(self) -> str:
        """Content hash: scores made under another schema are never reused."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def shipped_schemas() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.yaml"))


def parse_schema(data: Any, source: str) -> Schema:
    """Validate a mapping read from ``source``; every error says what to fix."""
    if not isinstance(data, dict):
        raise SchemaError(f"{source}: a schema is a mapping with 'domain' and 'attributes'")
    unknown = set(data) - {"domain", "description", "attributes"}
    if unknown:
        raise SchemaError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                          "expected domain, description, attributes")
    attrs = data.get("attributes")
    if not isinstance(attrs, list) or len(attrs) < 2:
        raise SchemaError(f"{source}: needs a list of at least 2 attributes, found {len(attrs) if isinstance(attrs, list) else 0}")
    parsed, seen = [], set()
    for n, attr in enumerate(attrs, 1):
        if not isinstance(attr, dict):
            raise SchemaError(f"{source}: attribute {n} must be a mapping of {', '.join(ATTRIBUTE_KEYS)}")
        label = f"attribute {n}" + (f" ('{attr['name']}')" if attr.get("name") else "")
        extra = set(attr) - set(ATTRIBUTE_KEYS)
        if extra:
            raise SchemaError(f"{source}: {label} has unknown key(s) {', '.join(sorted(extra))}")
        for key in ATTRIBUTE_KEYS:
            value = attr.get(key)
            if not isinstance(value, str) or not value.strip():
                raise SchemaError(f"{source}: {label} is missing its '{key}' phrase")
        name = attr["name"].strip()
        if name.lower() in seen:
            raise SchemaError(f"{source}: duplicate attribute name '{name}'")
        seen.add(name.lower())
        parsed.append(Attribute(name, attr["description"].strip(), attr["low"].strip(), attr["high"].strip()))
    return Schema(str(data.get("domain") or Path(source).stem), tuple(parsed), str(data.get("description") or ""))


def load_schema(name_or_path: str | Path) -> Schema:
    """A shipped schema by name (``movies``) or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = SCHEMA_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise SchemaError(f"no schema named '{name_or_path}'; shipped: {', '.join(shipped_schemas())}, "
                              "or pass a YAML file path")
    if not path.exists():
        raise SchemaError(f"{path}: schema file not found")
    if not path.is_file():
        raise SchemaError(f"{path}: expected a schema YAML file, got a folder")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise SchemaError(f"{path}: not UTF-8 text ({err.reason})") from None
    except yaml.YAMLError as err:
        raise SchemaError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    return parse_schema(data, str(path))
