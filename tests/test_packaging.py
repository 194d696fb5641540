"""The wheel holds the whole library: every package and data file of the tree.

An editable install hides packaging bugs (a wheel once lacked gerec.pipeline and
gerec.report), so this builds a real wheel and compares it with the source tree.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree_files() -> set[str]:
    """Paths a wheel must contain: gerec/** and cli/** (installed as gerec_cli/), caches excluded."""
    wanted = set()
    for folder, installed in (("gerec", "gerec"), ("cli", "gerec_cli")):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                wanted.add(f"{installed}/{path.relative_to(ROOT / folder).as_posix()}")
    return wanted


def test_wheel_contains_every_package_and_data_file(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT),
                    "-w", str(tmp_path)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("gerec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_tree_files() - names)
    assert not missing, f"the wheel lacks {missing}"
    packages = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "gerec").rglob("*.py")}
    assert {"gerec/pipeline", "gerec/report", "gerec/steps"} <= packages  # the tree walk itself found them
    assert any(n.startswith("gerec/guided/schemas/") and n.endswith(".yaml") for n in names)
    assert not any(n.startswith(("cli/", "tests/", "benchmarks/")) for n in names)  # no stray top-level packages
