"""Every bad input a hostile user tried: a one-line ``error:`` naming the file, line or setting,
exit code 1, no traceback — through the real CLI. And the HTTP service's bad requests: 4xx,
never 5xx, with the API documented as it behaves.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gerec import Workspace
from gerec.serving.http import MAX_BODY, create_app
from gerec.steps.recommend import load_recommender
from gerec_cli.main import app

runner = CliRunner()
Case = Callable[[Path, Path], list[str]]  # (scratch folder, a copy of an indexed workspace) → CLI arguments


def _reviews(tmp: Path) -> Path:
    path = tmp / "reviews.json"
    path.write_text("".join(json.dumps({"reviewerID": f"A{u}", "asin": f"B{i}", "unixReviewTime": 100 + i,
                                        "overall": 4.0}) + "\n" for u in range(1, 4) for i in range(1, 4)))
    return path


def _meta(tmp: Path, lines: list[str] | bytes, name: str = "meta.json") -> Path:
    path = tmp / name
    path.write_bytes(lines if isinstance(lines, bytes) else "\n".join(lines).encode())
    return path


def _amazon(meta_lines: list[str] | bytes, name: str = "meta.json") -> Case:
    return lambda tmp, ws: ["data", "import", "amazon-reviews", str(_reviews(tmp)), "--items",
                            str(_meta(tmp, meta_lines, name))]


GOOD_META = [json.dumps({"asin": f"B{i}", "title": f"Item {i}"}) for i in range(1, 4)]
GZIP = gzip.compress("\n".join(GOOD_META).encode())


def _config(text: bytes | None) -> Case:
    def make(tmp: Path, ws: Path) -> list[str]:
        path = tmp / "c.yaml"
        if text is None:
            path.mkdir()
        else:
            path.write_bytes(text)
        return ["base", "train", "--config", str(path), "--quiet"]
    return make


def _new_items(content: bytes) -> Case:
    def make(tmp: Path, ws: Path) -> list[str]:
        path = tmp / "new.csv"
        path.write_bytes(content)
        return ["index", "add", "--items", str(path)]
    return make


def _plot_dir(tmp: Path, ws: Path) -> list[str]:
    (tmp / "out.png").mkdir()
    return ["explain", "--user", "1", "--item", "2", "--plot", str(tmp / "out.png")]


CASES: dict[str, tuple[Case, str]] = {
    "metadata line is a number": (_amazon([GOOD_META[0], "5"]), "meta.json:2: a metadata record must be an object"),
    "metadata line is null": (_amazon([GOOD_META[0], "null"]), "meta.json:2: a metadata record must be an object"),
    "metadata nested too deeply": (_amazon([GOOD_META[0], "[" * 100_000 + "]" * 100_000]), "meta.json:2:"),
    "metadata garbage gzip": (_amazon(b"not gzip at all", "meta.json.gz"), "not a complete gzip file"),
    "metadata truncated gzip": (_amazon(GZIP[: len(GZIP) // 2], "meta.json.gz"), "not a complete gzip file"),
    "metadata not utf-8": (_amazon(b'{"asin": "B1", "title": "caf\xe9"}'), "meta.json:1: not valid utf-8"),
    "min rating nan": (lambda tmp, ws: ["data", "import", "movielens", str(tmp), "--min-rating", "nan"],
                       "'min_rating' must be a finite number"),
    "config yaml syntax": (_config(b"dim: [1, 2\nlayers: 2\n"), "c.yaml:"),
    "config not utf-8": (_config(b"dim: \xff\xfe\n"), "not UTF-8 text"),
    "config is a folder": (_config(None), "expected a YAML file, got a folder"),
    "config dim true": (_config(b"dim: true\n"), "'dim' expects int, got True"),
    "setting dim 0": (lambda tmp, ws: ["base", "train", "--set", "dim=0"], "'dim' must be >= 1"),
    "setting heads": (lambda tmp, ws: ["base", "train", "--set", "heads=3"], "'heads' (3) must divide 'dim' (64)"),
    "setting dropout": (lambda tmp, ws: ["base", "train", "--set", "dropout=1.5"], "'dropout' must be < 1"),
    "setting lr nan": (lambda tmp, ws: ["base", "train", "--set", "lr=nan"], "'lr' must be a finite number"),
    "setting huge seed": (lambda tmp, ws: ["base", "train", "--set", f"seed={2**70}"], "'seed' must be <"),
    "setting layers 0": (lambda tmp, ws: ["base", "train", "--set", "layers=0"], "'layers' must be >= 1"),
    "setting huge max_len": (lambda tmp, ws: ["base", "train", "--set", f"max_len={10**23}"], "'max_len' must be <="),
    "setting huge dim": (lambda tmp, ws: ["base", "train", "--set", f"dim={10**9}"], "'dim' must be <= 8192"),
    "setting batch 0": (lambda tmp, ws: ["base", "train", "--set", "batch_size=0"], "'batch_size' must be >= 1"),
    "threads -1": (lambda tmp, ws: ["--threads", "-1", "base", "train"], "threads must be at least 1"),
    "new items short row": (_new_items(b"title,text\nA,good\nB\n"), "new.csv:3: each row needs a title and a text"),
    "new items unclosed quote": (_new_items(b'title,text\n"A,good\n'), "new.csv:"),
    "new items not utf-8": (_new_items(b"title,text\nCaf\xe9,good\n"), "not UTF-8 text"),
    "new items wrong columns": (_new_items(b"name,blurb\nA,b\n"), "needs 'title' and 'text' columns"),
    "plot to a folder": (_plot_dir, "give a .png file name"),
    "index name escapes": (lambda tmp, ws: ["index", "build", "--name", "../../x"], "plain folder name"),
    "recall floor nan": (lambda tmp, ws: ["index", "build", "--recall-floor", "nan"],
                         "'recall_floor' must be a finite number"),
    "history non-ascii digits": (lambda tmp, ws: ["recommend", "--history", "١,٢"], "digits 0-9"),
    "unknown model": (lambda tmp, ws: ["base", "train", "--model", "sasrek"], "unknown model 'sasrek'"),
    "unknown device": (lambda tmp, ws: ["--device", "banana", "base", "train"], "unknown device 'banana'"),
    "synth too large": (lambda tmp, ws: ["data", "synth", "--items", "99999999999999999999999"], "generate fewer"),
    "bootstrap too large": (lambda tmp, ws: ["evaluate", "--bootstrap", "100000000"], "'bootstrap resamples' must be"),
    "bootstrap 0": (lambda tmp, ws: ["evaluate", "--bootstrap", "0"], "'bootstrap resamples' must be >= 1"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clean_line(name: str, indexed: Path, tmp_path: Path) -> None:
    make, message = CASES[name]
    ws = tmp_path / "ws"
    shutil.copytree(indexed, ws, symlinks=True)
    scratch = tmp_path / "in"
    scratch.mkdir()
    result = runner.invoke(app, ["--workspace", str(ws), *make(scratch, ws)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_good_input_near_the_bad_still_works(indexed: Path, tmp_path: Path) -> None:
    """A BOM, a quote in the workspace path: accepted, not rejected."""
    ws = tmp_path / "it's ws"
    shutil.copytree(indexed, ws, symlinks=True)
    items = tmp_path / "new.csv"
    items.write_bytes("\ufefftitle,text\nBrand New Comedy,A hilarious comedy.\n".encode())
    result = runner.invoke(app, ["--workspace", str(ws), "index", "add", "--items", str(items), "--json"])
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["added"].values()) == ["Brand New Comedy"]
    result = runner.invoke(app, ["--workspace", str(ws), "data", "synth", "--items", "40", "--users", "20"])
    assert result.exit_code == 0, result.output


# -- HTTP ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(indexed: Path) -> TestClient:
    ws = Workspace.resolve(indexed)
    return TestClient(create_app(lambda: load_recommender(ws), ws.index_dir("refined-sasrec") / "manifest.json",
                                 api_key="s3cret"))


KEY = {"X-API-Key": "s3cret"}
JSON = {**KEY, "content-type": "application/json"}


@pytest.mark.parametrize(("method", "url", "kwargs", "status"), [
    ("post", "/recommend", {"content": b'{"history": [1, 2], "k": NaN}'}, 422),
    ("post", "/recommend", {"content": b'{"history": [1, 2], "k": Infinity}'}, 422),
    ("post", "/recommend", {"content": b'{"history": [1, 2], "user_id": NaN}'}, 422),
    ("post", "/recommend", {"content": b'{"history": [true]}'}, 422),
    ("post", "/recommend", {"content": b'{"history": [1.5]}'}, 422),
    ("post", "/recommend", {"content": b'{"history": [1], "k": "3"}'}, 422),
    ("post", "/recommend", {"content": b"{" + b" " * (MAX_BODY + 1) + b"}"}, 413),
    ("get", "/recommend?user_id=nan", {}, 422),
    ("get", "/recommend?user_id=1&k=NaN", {}, 422),
    ("get", "/recommend?user_id=1&k=Infinity", {}, 422),
    ("get", "/recommend?user_id=99999999999999999999999", {}, 422),
    ("get", "/similar?item_id=-1", {}, 422),
])
def test_http_bad_requests_are_4xx(client: TestClient, method: str, url: str, kwargs: dict, status: int) -> None:
    response = getattr(client, method)(url, headers=JSON, **kwargs)
    assert response.status_code == status, response.text
    assert "detail" in response.json()


def test_a_20_mb_body_is_refused_without_reading_it_all(client: TestClient) -> None:
    def chunks():  # noqa: ANN202 - no Content-Length: the limit counts what arrives
        for _ in range(20):
            yield b" " * (1 << 20)

    assert client.post("/recommend", headers=JSON, content=chunks()).status_code == 413


def test_the_api_is_documented_as_it_behaves(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "required when the service has a key"}
    responses = spec["paths"]["/recommend"]["post"]["responses"]
    assert {"200", "401", "404", "413", "422", "503"} <= set(responses)
    assert {"401", "404"} <= set(spec["paths"]["/similar"]["get"]["responses"])
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200  # served locally


def test_wrong_api_key_and_a_key_prefix_are_refused(client: TestClient) -> None:
    assert client.get("/recommend?user_id=1", headers={"X-API-Key": "s3cre"}).status_code == 401
    assert client.get("/recommend?user_id=1", headers={"X-API-Key": "s3cret!"}).status_code == 401
    assert client.get("/recommend?user_id=1", headers=KEY).status_code == 200


def test_an_unreadable_manifest_is_tried_once_and_the_loaded_index_keeps_answering(indexed: Path,
                                                                                   tmp_path: Path) -> None:
    ws_root = tmp_path / "ws"
    shutil.copytree(indexed, ws_root, symlinks=True)
    ws = Workspace.resolve(ws_root)
    loads = []

    def load():  # noqa: ANN202
        loads.append(1)
        return load_recommender(ws)

    manifest = ws.index_dir("refined-sasrec") / "manifest.json"
    client = TestClient(create_app(load, manifest))
    manifest.write_text("{ not json")
    for _ in range(3):
        assert client.get("/recommend?user_id=1&k=2").status_code == 200
    assert len(loads) == 2  # start-up, then one failed reload: not one per request
