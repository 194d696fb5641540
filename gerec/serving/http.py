"""The HTTP embedding service: recommend, similar, explain, health — FastAPI over a Recommender.

Bad input is always a 4xx JSON error (unknown item 404, k or history out of range 422,
other unanswerable requests 400, a missing or wrong API key 401), never a 5xx. When the
index folder is rebuilt (``gerec index build`` swaps it in atomically), the next request
sees the new manifest and the service loads the new index before answering — no restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gerec.errors import GerecError
from gerec.serving import answers
from gerec.serving.recommender import MAX_K, Recommender, RequestError

logger = logging.getLogger("gerec.serve")

KParam = Annotated[int, Query(ge=1, le=MAX_K, description="How many items to return.")]


class HistoryRequest(BaseModel):
    history: list[int] = Field(min_length=1, max_length=10_000, description="Item ids, oldest first.")
    k: int = Field(10, ge=1, le=MAX_K)
    user_id: int | None = Field(None, description="Optional: a known user's id adds their guided vector.")


class Current:
    """The loaded recommender, swapped for a new one when the index manifest changes."""

    def __init__(self, load: Callable[[], Recommender], manifest: Path) -> None:
        self.load, self.manifest = load, manifest
        self.lock = threading.Lock()
        self.recommender = load()  # a missing or damaged index is an error at start-up, not per request
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.manifest.stat()
        except FileNotFoundError:  # the instant between moving the old folder out and the new one in
            return None
        return stat.st_ino, stat.st_mtime_ns

    def get(self) -> Recommender:
        stamp = self._stamp()
        if stamp is not None and stamp != self.stamp:
            with self.lock:
                if stamp != self.stamp:
                    try:
                        self.recommender = self.load()  # requests in flight keep the old object
                        self.stamp = stamp
                    except (GerecError, OSError) as err:  # a half-published or bad index: keep serving the old
                        logger.warning("keeping the loaded index: reload failed: %s", err)
        return self.recommender


def create_app(load: Callable[[], Recommender], manifest: Path, api_key: str | None = None) -> FastAPI:
    """The service for the recommender ``load`` returns; ``manifest`` is the index's manifest.json."""
    current = Current(load, manifest)
    app = FastAPI(title="gerec", description="Recommendations with per-attribute reasons.", version="0.1.0")

    def check_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if api_key and x_api_key != api_key:
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    @app.exception_handler(RequestError)
    async def request_error(_: Request, err: RequestError) -> JSONResponse:
        return JSONResponse(status_code=err.status, content={"detail": str(err)})

    guarded = [Depends(check_key)]

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        rec = current.get()
        return {"status": "ok", "items": len(rec.index), "index": rec.index.manifest.get("built_at"),
                "kind": rec.index.manifest.get("kind"), "attributes": rec.attributes}

    @app.get("/recommend", dependencies=guarded)
    def recommend(user_id: Annotated[int, Query(description="A user id.")], k: KParam = 10) -> dict[str, Any]:
        return answers.recommendations(current.get(), user_id=user_id, k=k)

    @app.post("/recommend", dependencies=guarded)
    def recommend_history(body: HistoryRequest) -> dict[str, Any]:
        return answers.recommendations(current.get(), user_id=body.user_id, history=body.history, k=body.k)

    @app.get("/similar", dependencies=guarded)
    def similar(item_id: int, k: KParam = 10) -> dict[str, Any]:
        return answers.similar(current.get(), item_id, k)

    @app.get("/explain", dependencies=guarded)
    def explain(user_id: int, item_id: int) -> dict[str, Any]:
        return current.get().explain(user_id, item_id)

    return app

