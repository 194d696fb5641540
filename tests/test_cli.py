"""The CLI end to end through Typer's runner, and what its start-up loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from gerec_cli.main import app

runner = CliRunner()


HEAVY = {"torch", "feast", "transformers", "duckdb", "pyarrow", "numpy", "pandas", "faiss", "sklearn", "safetensors"}


def test_help_and_import_load_no_heavy_module() -> None:
    """`gerec --help` and `import gerec` stay fast because nothing heavy loads (`import feast` alone
    costs ~6 s): checked by which modules load, not by a clock a busy machine can miss."""
    out = subprocess.run([sys.executable, "-m", "gerec_cli", "--help"], capture_output=True, text=True, check=True)
    assert "data" in out.stdout and "run" in out.stdout and "--device" in out.stdout
    code = "import sys, gerec, gerec_cli.main; gerec.__version__; print(' '.join(sys.modules))"
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not HEAVY & {m.split(".")[0] for m in modules}
    code = "import sys, gerec; gerec.Recommender; print(' '.join(sys.modules))"  # a public name loads on first use
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "torch" in modules


def test_data_import_and_stats_json(tmp_path: Path, ml100k: Path) -> None:
    ws = str(tmp_path / "ws")
    result = runner.invoke(app, ["--workspace", ws, "data", "import", "movielens", str(ml100k)])
    assert result.exit_code == 0, result.output
    assert "dropped 1 users with fewer than 3 interactions" in result.output
    result = runner.invoke(app, ["--workspace", ws, "data", "stats", "--json"])
    stats = json.loads(result.stdout)
    assert stats["raw"]["interactions"] == 9 and stats["final"]["users"] == 2


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--workspace", str(tmp_path / "ws"), "data", "import", "movielens", str(tmp_path)])
    assert result.exit_code == 1
    assert "error:" in result.output and "not a MovieLens folder" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ws" / "data").exists()


def test_workspace_from_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GEREC_WORKSPACE", str(tmp_path / "envws"))
    result = runner.invoke(app, ["data", "synth", "--items", "60", "--users", "40", "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "envws" / "data" / "manifest.json").exists()


def test_base_train_json_and_bad_settings(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["--workspace", ws, "data", "synth", "--items", "80", "--users", "60"]).exit_code == 0
    result = runner.invoke(app, ["--workspace", ws, "--threads", "1", "base", "train", "--model", "gru4rec",
                                 "--set", "epochs=2", "--set", "dim=16", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out["valid"]) == set(out["test"]) and "NDCG@10" in out["test"]
    result = runner.invoke(app, ["--workspace", ws, "base", "train", "--set", "dropuot=0.1"])
    assert result.exit_code == 1 and "did you mean 'dropout'" in result.output
    result = runner.invoke(app, ["--workspace", ws, "base", "train", "--model", "sasrek"])
    assert result.exit_code == 1 and "unknown model 'sasrek'" in result.output


def test_base_train_reads_a_yaml_config(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["--workspace", str(ws), "data", "synth", "--items", "60", "--users", "30"]).exit_code == 0
    config = tmp_path / "sasrec.yaml"
    config.write_text("dim: 16\nlayers: 1\nepochs: 1\nbatch_size: 8\n")
    result = runner.invoke(app, ["--workspace", str(ws), "--threads", "1", "base", "train", "--config", str(config),
                                 "--set", "heads=1", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    saved = json.loads((ws / "models" / "base-sasrec" / "config.json").read_text())
    assert (saved["model"]["dim"], saved["model"]["layers"], saved["model"]["heads"]) == (16, 1, 1)
    assert (saved["train"]["epochs"], saved["train"]["batch_size"]) == (1, 8)


def test_guided_schemas_json() -> None:
    result = runner.invoke(app, ["guided", "schemas", "--json"])
    assert result.exit_code == 0
    schemas = json.loads(result.stdout)
    assert {"movies", "games", "beauty", "clothing", "generic"} <= set(schemas)
    assert all(set(a) == {"name", "description", "low", "high"} for a in schemas["movies"]["attributes"])


def test_the_bucket_table_fits_80_columns_with_its_widest_cells() -> None:
    """A 'too few hits' bucket and the longest control name once squeezed every column into '…' in
    an 80-column log; the interval now has its own column and every cell stays whole."""
    from rich.console import Console

    from gerec_cli.run import story

    def bucket(share: float, gain: dict[str, float | None]) -> dict:
        return {"users": 100, "share": share, "gains": {"refined_vs_continued": {"NDCG@10": gain}},
                "variants": {"refined": {"NDCG@10": 0.1663}, "continued": {"NDCG@10": 0.0076}}}

    wide = {"mean": -0.125, "low": -0.9123, "high": 1.7891}
    few = {"mean": -0.015, "low": None, "high": None}
    results = {"rows": [{"model": "bert4rec", "headline": {"control": "continued"}, "breakdown": {
        "item_events": {"1–4": bucket(0.024, few), "5–19": bucket(0.22, wide), "20+": bucket(0.76, wide)},
        "history_length": {"> 20": bucket(0.052, {"mean": None, "low": None, "high": None})}}}]}
    console = Console(width=80, record=True, force_terminal=False)
    for part in story(results):
        console.print(part)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80, text
    assert "item events 1–4" in text and "too few hits" in text and "[-91.2%, +178.9%]" in text
    assert "refined vs base-continued" in text and "0.1663" in text and "-12.5%" in text


def test_base_train_help_names_every_setting() -> None:
    """The settings list in `gerec base train --help` is hand-written: it must not fall behind the configs."""
    import dataclasses

    from gerec.models.sequential import ModelConfig
    from gerec.training import TrainConfig

    result = runner.invoke(app, ["base", "train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    names = [f.name for config in (ModelConfig, TrainConfig) for f in dataclasses.fields(config) if f.name != "model"]
    assert [name for name in names if name not in text] == []
