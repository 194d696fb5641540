"""Every example runs, so none of them rots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
EXPECTED = {"quickstart.py": "NDCG@10", "custom_schema.py": "highest: sweetness"}


def test_every_example_is_checked() -> None:
    assert {e.name for e in EXAMPLES} == set(EXPECTED)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example: Path, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(example), str(tmp_path / "ws")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert EXPECTED[example.name] in out.stdout
