"""The HTTP embedding service: recommend, similar, explain, health — FastAPI over a Recommender.

Bad input is always a 4xx JSON error (unknown item 404, k or history out of range 422,
other unanswerable requests 400, a missing or wrong API key 401, a body over the size limit
413), never a 5xx; a feature store that cannot answer is 503. When the index folder is
rebuilt (``gerec index build`` publishes it atomically), the next request sees the new
manifest and the service loads the new index before answering — no restart. The OpenAPI
docs (``/docs``, ``/redoc``) are served from local files, so they work offline.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, StrictInt

from gerec.serving import answers
from gerec.serving.recommender import MAX_K, Recommender, RequestError

logger = logging.getLogger("gerec.serve")

MAX_BODY = 1 << 20  # bytes; a history of 10,000 ids is ~70 kB
MAX_HISTORY = 10_000

# Module level: the annotations below are strings (PEP 563) that FastAPI resolves in this module.
KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="required when the service has a key")
KParam = Annotated[int, Query(ge=1, le=MAX_K, description="How many items to return.")]
IdParam = Annotated[int, Query(ge=0, le=2**63 - 1)]


class HistoryRequest(BaseModel):
    history: list[StrictInt] = Field(min_length=1, max_length=MAX_HISTORY, description="Item ids, oldest first.")
    k: StrictInt = Field(10, ge=1, le=MAX_K)
    user_id: StrictInt | None = Field(None, description="Optional: a known user's id adds their guided vector.")


class Error(BaseModel):
    detail: Any


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "missing or wrong X-API-Key"},
    404: {"model": Error, "description": "unknown item"},
    413: {"model": Error, "description": f"request body over {MAX_BODY} bytes"},
    503: {"model": Error, "description": "the feature store cannot answer for a known user"},
}


class Current:
    """The loaded recommender, swapped for a new one when the index manifest changes.

    A manifest that cannot be loaded (half-published, unreadable, damaged) is logged once
    and the loaded index keeps answering; it is not retried until the manifest changes again.
    """

    def __init__(self, load: Callable[[], Recommender], manifest: Path) -> None:
        self.load, self.manifest = load, manifest
        self.lock = threading.Lock()
        self.recommender = load()  # a missing or damaged index is an error at start-up, not per request
        self.stamp = self.tried = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = self.manifest.stat()
        except OSError:  # the instant of a swap, or an unreadable folder
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def get(self) -> Recommender:
        stamp = self._stamp()
        if stamp is not None and stamp != self.tried:
            with self.lock:
                if stamp != self.tried:
                    self.tried = stamp
                    try:
                        self.recommender = self.load()  # requests in flight keep the old object
                        self.stamp = stamp
                    except Exception as err:  # noqa: BLE001 - whatever broke the new index, keep serving the old
                        logger.warning("keeping the loaded index: reload failed: %s", err)
        return self.recommender


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 before it is parsed."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(send)
            return
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Callable) -> None:
        response = JSONResponse(status_code=413, content={"detail": f"request body over {self.limit} bytes"})
        await response({"type": "http"}, None, send)  # type: ignore[arg-type]


class _TooLarge(BaseException):
    """Not an ``Exception``: FastAPI turns those raised while reading a body into a 400."""


def _json_safe(value: Any) -> Any:
    """A validation error's echoed input, safe to put in JSON (NaN and infinities are not)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def create_app(load: Callable[[], Recommender], manifest: Path, api_key: str | None = None) -> Any:
    """The service for the recommender ``load`` returns; ``manifest`` is the index's manifest.json."""
    current = Current(load, manifest)
    app = FastAPIOffline(title="gerec", description="Recommendations with per-attribute reasons.", version="0.1.0")
    app.add_middleware(BodyLimit)

    def check_key(x_api_key: Annotated[str | None, Depends(KEY_HEADER)] = None) -> None:
        if api_key and not hmac.compare_digest((x_api_key or "").encode(), api_key.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    @app.exception_handler(RequestError)
    async def request_error(_: Request, err: RequestError) -> JSONResponse:
        return JSONResponse(status_code=err.status, content={"detail": str(err)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = [{k: _json_safe(v) for k, v in e.items() if k != "ctx"} for e in err.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    guarded = [Depends(check_key)]

    @app.get("/healthz", responses={503: ERRORS[503]})
    def healthz() -> Any:
        rec = current.get()
        try:
            rec.check_store()
        except Exception as err:  # noqa: BLE001 - any failure of the store means not ready
            logger.warning("not ready: %s", err)
            return JSONResponse(status_code=503, content={"status": "unavailable", "detail": str(err)})
        return {"status": "ok", "items": len(rec.index), "index": rec.index.manifest.get("built_at"),
                "kind": rec.index.manifest.get("kind"), "attributes": rec.attributes}

    @app.get("/recommend", dependencies=guarded, responses={k: ERRORS[k] for k in (401, 404, 503)})
    def recommend(user_id: Annotated[int, Query(ge=0, le=2**63 - 1, description="A user id.")],
                  k: KParam = 10) -> dict[str, Any]:
        return answers.recommendations(current.get(), user_id=user_id, k=k)

    @app.post("/recommend", dependencies=guarded, responses={k: ERRORS[k] for k in (401, 404, 413, 503)})
    def recommend_history(body: HistoryRequest) -> dict[str, Any]:
        return answers.recommendations(current.get(), user_id=body.user_id, history=body.history, k=body.k)

    @app.get("/similar", dependencies=guarded, responses={k: ERRORS[k] for k in (401, 404)})
    def similar(item_id: IdParam, k: KParam = 10) -> dict[str, Any]:
        return answers.similar(current.get(), item_id, k)

    @app.get("/explain", dependencies=guarded, responses={k: ERRORS[k] for k in (401, 404, 503)})
    def explain(user_id: IdParam, item_id: IdParam) -> dict[str, Any]:
        return current.get().explain(user_id, item_id)

    return app
