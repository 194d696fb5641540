"""A bounded schema-driven fuzz of the HTTP service: whatever the OpenAPI spec admits (and
what it does not), the service never answers with a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the fuzz run needs schemathesis (the test extra)")
from hypothesis import HealthCheck, settings  # noqa: E402 - schemathesis brings hypothesis
from schemathesis.checks import not_a_server_error  # noqa: E402

from gerec import Workspace  # noqa: E402
from gerec.serving.http import create_app  # noqa: E402
from gerec.steps.recommend import load_recommender  # noqa: E402


@pytest.fixture
def api_schema(indexed: Path):  # noqa: ANN201
    ws = Workspace.resolve(indexed)
    app = create_app(lambda: load_recommender(ws), ws.index_dir("refined-sasrec") / "manifest.json", api_key="k")
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case) -> None:  # noqa: ANN001
    case.headers = {**(case.headers or {}), "X-API-Key": "k"}
    case.call_and_validate(checks=[not_a_server_error])
