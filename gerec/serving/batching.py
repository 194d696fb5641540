"""Micro-batching: concurrent requests share one model pass and one index search.

Each request thread hands its :class:`~gerec.serving.answers.Ask` to a :class:`Batcher` and
waits; one worker thread takes whatever has arrived — up to ``max_batch`` requests, waiting at
most ``max_wait`` seconds after the first — and answers them together with
:func:`~gerec.serving.answers.recommend_many`. One slow or bad request never fails the others:
a batch that raises is retried request by request, so each caller gets its own answer or error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from gerec.serving.answers import Ask, recommend_many
from gerec.serving.recommender import Recommender


class Batcher:
    def __init__(self, recommender: Callable[[], Recommender], max_batch: int = 32, max_wait: float = 0.0,
                 observe: Callable[[int], None] = lambda size: None) -> None:
        self.recommender, self.max_batch, self.max_wait, self.observe = recommender, max_batch, max_wait, observe
        self.pending: queue.Queue[tuple[Ask, Future]] = queue.Queue()
        self.worker = threading.Thread(target=self._run, name="gerec-batcher", daemon=True)
        self.worker.start()

    def answer(self, ask: Ask, timeout: float = 30.0) -> dict[str, Any]:
        """The answer to ``ask``, computed in a batch with whatever else is waiting."""
        future: Future = Future()
        self.pending.put((ask, future))
        return future.result(timeout=timeout)

    def _run(self) -> None:
        while True:
            batch = [self.pending.get()]
            deadline = time.perf_counter() + self.max_wait
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                try:
                    batch.append(self.pending.get(timeout=left) if left > 0 else self.pending.get_nowait())
                except queue.Empty:
                    break
            self.observe(len(batch))
            self._answer(batch)

    def _answer(self, batch: list[tuple[Ask, Future]]) -> None:
        try:
            rec = self.recommender()
            results = recommend_many(rec, [ask for ask, _ in batch])
        except Exception:  # noqa: BLE001 - find out whose request failed: answer one by one
            for ask, future in batch:
                try:
                    future.set_result(recommend_many(self.recommender(), [ask])[0])
                except Exception as err:  # noqa: BLE001 - the caller re-raises its own error
                    future.set_exception(err)
            return
        for (_, future), result in zip(batch, results):
            future.set_result(result)
