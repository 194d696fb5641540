"""A bounded schema-driven fuzz of the HTTP service: whatever the OpenAPI spec admits (and
what it does not), the service never answers with a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the fuzz run needs schemathesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402 - schemathesis brings hypothesis
from schemathesis.checks import not_a_server_error  # noqa: E402

from gerec import Workspace  # noqa: E402
from gerec.serving.http import create_app  # noqa: E402
from gerec.steps.recommend import load_recommender  # noqa: E402


# Each operation's cases come from its Hypothesis strategy inside one plain test: schemathesis's
# pytest fixture integration reads pytest internals that pytest 9.2 removed (``_nodeid``).
def test_no_request_gets_a_server_error(indexed: Path) -> None:
    ws = Workspace.resolve(indexed)
    app = create_app(lambda: load_recommender(ws), ws.index_dir("refined-sasrec") / "manifest.json", api_key="k")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5  # /recommend, /recommend/batch, /similar, /explain, /livez, ...

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:  # noqa: ANN001
            case.headers = {**(case.headers or {}), "X-API-Key": "k"}
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
