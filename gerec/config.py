"""Typed configuration from dataclasses: YAML files and ``key=value`` overrides, strictly.

An unknown key is an error naming the nearest valid key (a typo must never be ignored); a
value of the wrong type or out of range is an error naming the setting. Each settings
dataclass checks its ranges in ``__post_init__`` with :func:`check` and :func:`choice`, so
an invalid configuration never reaches training (or writes anything).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gerec.errors import GerecError

T = TypeVar("T")


class ConfigError(GerecError):
    """A configuration key or value that cannot be used."""


def _coerce(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, args[0], key)
    if isinstance(value, bool) and kind in (int, float):  # YAML `dim: true` is not a width
        raise ConfigError(f"'{key}' expects {kind.__name__}, got {value!r}")
    if isinstance(value, str) and kind in (int, float) and not value.isascii():  # int("١٢") is 12 in Python
        raise ConfigError(f"'{key}' expects {kind.__name__} written in ASCII digits, got {value!r}")
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if kind in (int, float, str):
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{key}' expects {kind.__name__}, got {value!r}") from None
    return value


SEED_LIMIT = 2**63  # what every generator gerec seeds accepts


def check(name: str, value: float, low: float | None = None, high: float | None = None, *,
          low_open: bool = False, high_open: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is finite and within ``low``..``high``
    (an ``_open`` end excludes its bound)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"'{name}' must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"'{name}' must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ConfigError(f"'{name}' must be {'<' if high_open else '<='} {high}, got {value}")


def choice(name: str, value: str, options: tuple[str, ...] | list[str]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``options``."""
    if value not in options:
        raise ConfigError(f"unknown {name} '{value}'; choose one of: {', '.join(options)}")


def update(config: T, values: dict[str, Any]) -> T:
    """A copy of dataclass ``config`` with ``values`` applied (types coerced, keys checked)."""
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    changes = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in names:
            near = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys: {', '.join(names)}"
            raise ConfigError(f"unknown {type(config).__name__} key '{key}'{hint}")
        changes[key] = _coerce(value, hints[key], key)
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["lr=0.001", "layers=2"]`` → ``{"lr": "0.001", "layers": "2"}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{pair}' must look like key=value")
        out[key.strip()] = value.strip()
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: expected a YAML file, got a folder")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value")
    return data
