"""`gerec run` end to end in --quick mode, its stage skipping, and the report it writes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gerec import Workspace
from gerec.errors import GerecError
from gerec.pipeline import Pipeline, Stage
from gerec.steps.report import training_histories
from gerec_cli.main import app

runner = CliRunner()


# -- the stage runner on toy stages -------------------------------------------------------------
def _toy(ws: Workspace, calls: list[str], params: dict, fail: str | None = None) -> Pipeline:
    def writer(name: str, text: str):  # noqa: ANN202
        def run() -> str:
            calls.append(name)
            if name == fail:
                raise RuntimeError(f"{name} broke")
            (ws.root / f"{name}.txt").write_text(text)
            return f"wrote {name}"
        return run

    upstream = lambda: (ws.root / "a.txt").read_text()  # noqa: E731
    return Pipeline(ws, [
        Stage("a", writer("a", params["a"]), {"a": params["a"]}, (), (ws.root / "a.txt",)),
        Stage("b:one", lambda: writer("b:one", upstream() + "1")(), {}, ("a",), (ws.root / "b:one.txt",)),
        Stage("b:two", writer("b:two", "constant"), {}, ("a",), (ws.root / "b:two.txt",)),
        Stage("c", writer("c", "c"), {}, ("b:one", "b:two"), (ws.root / "c.txt",)),
    ])


def test_stages_skip_rerun_and_cascade(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path)
    calls: list[str] = []
    first = _toy(ws, calls, {"a": "x"}).run(show_progress=False)
    assert calls == ["a", "b:one", "b:two", "c"] and {r["status"] for r in first} == {"ran"}
    calls.clear()
    assert {r["status"] for r in _toy(ws, calls, {"a": "x"}).run(show_progress=False)} == {"skipped"} and not calls
    # a changed setting re-runs its stage and, through the changed output, what reads it; b:two sees the
    # new a.txt as a changed input too, but writes the same file, so c re-runs only because b:one changed
    _toy(ws, calls, {"a": "y"}).run(show_progress=False)
    assert calls == ["a", "b:one", "b:two", "c"]
    calls.clear()
    (ws.root / "b:two.txt").unlink()  # a deleted artifact: its stage runs again, the same content → c skipped
    _toy(ws, calls, {"a": "y"}).run(show_progress=False)
    assert calls == ["b:two"]
    calls.clear()
    _toy(ws, calls, {"a": "y"}).run(force=["b"], show_progress=False)  # a family forces all its members
    assert calls == ["b:one", "b:two"]


def test_an_interrupted_run_resumes_at_the_failed_stage(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path)
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="b:two broke"):
        _toy(ws, calls, {"a": "x"}, fail="b:two").run(show_progress=False)
    assert calls == ["a", "b:one", "b:two"]
    calls.clear()
    _toy(ws, calls, {"a": "x"}).run(show_progress=False)
    assert calls == ["b:two", "c"]


def test_bad_force_and_bad_order_are_clear_errors(tmp_path: Path) -> None:
    ws = Workspace.resolve(tmp_path)
    with pytest.raises(GerecError, match="force bsae: no such stage; choose from all, a, b, c"):
        _toy(ws, [], {"a": "x"}).run(force=["bsae"], show_progress=False)
    with pytest.raises(GerecError, match="reads from 'b', which does not run before it"):
        Pipeline(ws, [Stage("a", lambda: "", after=("b",)), Stage("b", lambda: "")])


def _comparison(text: str) -> dict[str, list[str]]:
    """The printed comparison table as {variant: ["value [low, high]", ...]}: each row is a line of
    values (with the label, maybe folded onto the next lines) and a line of intervals."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["variant"]) + 2
    number = r"[+-]?\d+\.\d+%?"
    rows: list[tuple[list[str], list[str], list[str]]] = []  # (label parts, values, intervals)
    for line in lines[start:]:
        if not line.strip():
            break
        intervals = re.findall(r"\[[^\]]+\]", line)
        rest = re.sub(r"\[[^\]]+\]", "", line)
        values = re.findall(rf"(?<!\S){number}(?!\S)", rest)
        label = re.sub(rf"(?<!\S){number}(?!\S)", "", rest).strip()
        if values:
            rows.append(([label], values, intervals))
        else:
            rows[-1][0].append(label)
            rows[-1][2].extend(intervals)
    return {" ".join(p for p in parts if p): [f"{v} {iv}" for v, iv in zip(values, ivs)] for parts, values, ivs in rows}


# -- the real pipeline, --quick -------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("run") / "ws"
    result = runner.invoke(app, ["--workspace", str(ws), "--threads", "1", "run", "--quick"])
    assert result.exit_code == 0, result.output
    return ws, result.stdout


def test_quick_run_writes_every_artifact_and_prints_every_row(quick: tuple[Path, str]) -> None:
    ws, out = quick
    for path in ("data/interactions.parquet", "data/items.parquet", "synthetic/item_truth.parquet",
                 "models/base-sasrec/model.safetensors", "models/reduced-sasrec/model.safetensors",
                 "models/refined-sasrec/model.safetensors", "models/refined-sasrec/user_vectors.parquet",
                 "features/item_attributes.parquet", "features/user_attributes.parquet", "features/reduced/sasrec.parquet",
                 "feature_store/registry.db", "feature_store/online.db", "reports/results.json", "reports/results.md",
                 "indexes/refined-sasrec/index.faiss", "indexes/refined-sasrec/manifest.json", "reports/report.html",
                 "reports/report.md", "reports/report.json", "reports/figures/metrics.png", "pipeline.json"):
        assert (ws / path).exists(), path
    rows = _comparison(out)
    for variant in ("popularity", "base", "base-continued", "reduced-only", "refined", "refined, shuffled scores",
                    "refined vs base", "refined vs base-continued", "refined vs reduced-only"):
        cells = rows[variant]
        assert len(cells) == 3 and all(re.fullmatch(r"[+-]?\d+\.\d+%? \[.+, .+\]", c) for c in cells), cells
    assert len(re.findall(r"user \d+ \(recently: ", out)) == 3  # three users' example recommendations
    curves = training_histories(Workspace.resolve(ws))  # the report's curves: one per published model
    assert sorted(curves) == ["base-sasrec", "continued-sasrec", "reduced-sasrec", "refined-sasrec", "shuffled-sasrec"]
    story = out.split("NDCG@10, by bucket", 1)[1].split("user ", 1)[0]  # after the table: where the gain is
    assert all(f"{label} " in story for label in ("item events 0", "item events 20+", "history ≤ 5", "history > 20"))
    assert re.search(r"item events 5–19 +\d+(\.\d)?% +\d\.\d{4} +\d\.\d{4} +([+-]\d+\.\d%|—)", story), story
    assert "The attribute dimensions carry" in out
    new = json.loads((ws / "reports" / "results.json").read_text())["rows"][0]["breakdown"]["item_events"]["0"]
    assert ("New items: " in out) == (new["users"] > 0)  # said exactly when the test split asks for any
    assert "12 stages ran, 0 skipped" in out and str(ws / "reports" / "report.html") in out
    stages = json.loads((ws / "pipeline.json").read_text())["stages"]
    assert list(stages) == ["data", "base:sasrec", "guided", "reduce:sasrec", "features", "reduced:sasrec",
                            "refined:sasrec", "shuffled:sasrec", "continued:sasrec", "evaluate", "index", "report"]
    results = json.loads((ws / "reports" / "results.json").read_text())
    (row,) = results["rows"]  # every arm of PROTOCOL.md that `gerec run` trains, and the headline over the controls
    assert set(row["variants"]) == {"base", "continued", "reduced", "refined", "shuffled"}
    assert row["headline"]["control"] in ("base", "continued", "reduced")


def test_rerun_skips_unchanged_stages_and_force_redoes_one(quick: tuple[Path, str]) -> None:
    ws, _ = quick
    result = runner.invoke(app, ["--workspace", str(ws), "--threads", "1", "run", "--quick", "--force", "report",
                                 "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [s["stage"] for s in out["stages"] if s["status"] == "ran"] == ["report"]
    assert len(out["examples"]) == 3
    assert all(len(e["items"]) == 5 and all("reasons" in item for item in e["items"]) for e in out["examples"])
    result = runner.invoke(app, ["--workspace", str(ws), "run", "--quick", "--force", "refine"])
    assert result.exit_code == 1 and "no such stage" in result.output


def test_adding_a_model_trains_only_that_model(quick: tuple[Path, str], tmp_path: Path) -> None:
    """Stage keys are as fine as the data a stage reads: SASRec's arms read SASRec's reduced table
    and the guided scores, so adding GRU4Rec re-materializes the store but retrains nothing of SASRec."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(quick[0], ws)
    result = runner.invoke(app, ["--workspace", str(ws), "--threads", "1", "run", "--quick", "--models",
                                 "sasrec,gru4rec", "--json"])
    assert result.exit_code == 0, result.output
    status = {s["stage"]: s["status"] for s in json.loads(result.stdout)["stages"]}
    assert {s for s, v in status.items() if v == "ran"} == {"base:gru4rec", "reduce:gru4rec", "features",
                                                            "reduced:gru4rec", "refined:gru4rec", "shuffled:gru4rec",
                                                            "continued:gru4rec", "evaluate", "report"}
    assert status["reduced:sasrec"] == status["refined:sasrec"] == "skipped"


def test_report_embeds_every_figure(quick: tuple[Path, str]) -> None:
    ws, _ = quick
    page = (ws / "reports" / "report.html").read_text()
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    figures = sorted((ws / "reports" / "figures").glob("*.png"))
    assert len(images) == len(figures) >= 7  # metrics, training, scores, recovery, three case studies
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data in images)
    assert {"What was found", "Dataset", "Results", "Attribute scores", "Recovering the ground truth (synthetic data)", "Case studies"} <= set(
        re.findall(r"<h2>([^<]+)</h2>", page))
    md = (ws / "reports" / "report.md").read_text()
    found = md.split("## What was found", 1)[1].split("##", 1)[0]  # the summary opens the page, with numbers
    assert md.index("## What was found") < md.index("## Dataset")
    assert "Its shape beside real datasets" in md and "| test items, 0 train events |" in md
    assert "strongest control" in found and "shuffled" in found and re.search(r"[+-]\d+\.\d%", found)
    for link in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (ws / "reports" / link).exists()
    data = json.loads((ws / "reports" / "report.json").read_text())
    assert len(data["cases"]) == 3 and all(len(c["items"]) == 5 for c in data["cases"])
    # the encoder reads the synthetic attributes back (texts state a marked attribute 60% of the time)
    assert min(data["recovery"].values()) > 0.4


def test_report_renders_in_headless_chromium(quick: tuple[Path, str], tmp_path: Path) -> None:
    from gerec.report.browser import find_chromium

    pytest.importorskip("playwright", reason="the browser check needs `pip install playwright`")
    if find_chromium() is None:
        pytest.skip("the browser check needs Chromium (apt-get install chromium)")
    ws, _ = quick
    shot = tmp_path / "report.png"
    result = runner.invoke(app, ["--workspace", str(ws), "report", "--screenshot", str(shot), "--json"])
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)["browser"]
    assert len(checked["images"]) >= 7 and all(img["width"] > 300 for img in checked["images"])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


@pytest.mark.parametrize(("args", "message"), [
    (["--models", ","], "models names no model"),
    (["--models", "sasrek"], "unknown model 'sasrek'"),
    (["--quick", "--data", "."], "quick mode uses a small synthetic dataset"),
    (["--data", "no/such/folder"], "no such file or folder"),
    (["--schema", "no-such-schema"], "no-such-schema"),
    (["--finetune", "yes"], "unknown finetune 'yes'"),
    (["--finetune", "residual", "--finetune-set", "format_weigth=3"], "did you mean 'format_weight'"),
    (["--finetune-set", "format_weight=3"], "without --finetune"),
])
def test_run_rejects_bad_options_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["--workspace", str(tmp_path / "ws"), "run", *args])
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "ws" / "pipeline.json").exists()


def test_report_of_a_moved_workspace_without_an_index(quick: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    ws = tmp_path / "moved"
    shutil.copytree(quick[0], ws)
    shutil.rmtree(ws / "indexes")
    result = runner.invoke(app, ["--workspace", str(ws), "report", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads((ws / "reports" / "report.json").read_text())
    assert data["synthetic"] and data["recovery"] and data["cases"] == []  # truth found by content, no case studies
    shutil.rmtree(ws / "reports")
    result = runner.invoke(app, ["--workspace", str(ws), "report"])
    assert result.exit_code == 1 and "evaluate first (`gerec evaluate` or `gerec run`)" in result.output
