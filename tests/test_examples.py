"""Every example runs, so none of them rots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
EXPECTED = {"quickstart.py": "driven by", "custom_schema.py": "highest: sweetness",
            "causal_lm.py": "items and 30 users on 3 attributes"}
ELSEWHERE = {"http_client.py"}  # needs a live service: run by test_serving.test_gerec_serve_runs_on_loopback


def test_every_example_is_checked() -> None:
    assert {e.name for e in EXAMPLES} == set(EXPECTED) | ELSEWHERE


def _args(name: str, tmp_path: Path) -> list[str]:
    if name != "causal_lm.py":
        return []
    import yaml

    from tiny_lm import SCHEMA, build_tiny_lm

    schema = tmp_path / "tiny.yaml"
    schema.write_text(yaml.safe_dump(SCHEMA.to_dict()))
    return ["--model", str(build_tiny_lm(tmp_path / "lm")), "--schema", str(schema), "--items", "30"]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.name in EXPECTED],
                         ids=[e.name for e in EXAMPLES if e.name in EXPECTED])
def test_example_runs(example: Path, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(example), str(tmp_path / "ws"), *_args(example.name, tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert EXPECTED[example.name] in out.stdout
