"""User sequences in memory: the one view of the split that training and evaluation share.

Sequences are stored CSR-style (``indptr``, ``items``) over dense user ids 1..U, each
user's items in time order; under leave-one-out the last item is the test target and the
second-to-last the validation target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from gerec.errors import DataError

SPLITS = ("valid", "test")


@dataclass(frozen=True)
class Sequences:
    """Every user's full time-ordered item sequence (train + valid + test)."""

    n_users: int
    n_items: int
    indptr: np.ndarray  # (U + 2,) int64: user u's items are items[indptr[u]:indptr[u + 1]]; user 0 is empty
    items: np.ndarray  # (nnz,) int64 dense item ids in 1..n_items

    @classmethod
    def from_parquet(cls, interactions: Path, n_users: int, n_items: int) -> "Sequences":
        """Read ``interactions.parquet`` (``user_id``, ``item_id``, ``seq``) as written by an import."""
        con = duckdb.connect()
        user_ids, item_ids = con.execute(
            "SELECT user_id, item_id FROM read_parquet($path) ORDER BY user_id, seq", {"path": str(interactions)}
        ).fetchnumpy().values()
        return cls.from_arrays(np.asarray(user_ids), np.asarray(item_ids), n_users, n_items)

    @classmethod
    def from_arrays(cls, user_ids: np.ndarray, item_ids: np.ndarray, n_users: int, n_items: int) -> "Sequences":
        """Build from parallel arrays already sorted by (user, time)."""
        if len(user_ids) and (np.diff(user_ids) < 0).any():
            raise DataError("user ids must be sorted (by user, then time)")
        counts = np.bincount(user_ids, minlength=n_users + 1)
        indptr = np.zeros(n_users + 2, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(n_users, n_items, indptr, np.asarray(item_ids, dtype=np.int64))

    @property
    def users(self) -> np.ndarray:
        """Users with at least one event."""
        return np.flatnonzero(np.diff(self.indptr)[: self.n_users + 1])

    def lengths(self, users: np.ndarray) -> np.ndarray:
        return self.indptr[users + 1] - self.indptr[users]

    def cut(self, split: str) -> int:
        """How many trailing events a split hides from the history: valid 2, test 1, train-only 2."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got '{split}'")
        return 2 if split == "valid" else 1

    def targets(self, users: np.ndarray, split: str) -> np.ndarray:
        """The held-out item of each user for ``split``."""
        return self.items[self.indptr[users + 1] - self.cut(split)]

    def histories(self, users: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, items) of each user's events before their ``split`` target."""
        starts = self.indptr[users]
        lens = np.maximum(self.indptr[users + 1] - self.cut(split) - starts, 0)
        hp = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lens, out=hp[1:])
        return hp, self.items[ranges(starts, lens)]

    def recent(self, users: np.ndarray, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, items) of each user's last ``n`` events before their ``split`` target, oldest first."""
        ends = self.indptr[users + 1] - self.cut(split)
        lens = np.clip(ends - self.indptr[users], 0, n)
        hp = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lens, out=hp[1:])
        return hp, self.items[ranges(ends - lens, lens)]

    def padded(self, users: np.ndarray, split: str, max_len: int) -> np.ndarray:
        """(B, max_len) histories before the ``split`` target, most recent last, left-padded with 0."""
        hp, flat = self.histories(users, split)
        lens = np.minimum(np.diff(hp), max_len)
        out = np.zeros((len(users), max_len), dtype=np.int64)
        rows = np.repeat(np.arange(len(users)), lens)
        out[rows, ranges(max_len - lens, lens)] = flat[ranges(hp[1:] - lens, lens)]
        return out

    def train_items(self) -> tuple[np.ndarray, np.ndarray]:
        """(indptr, items) of the train split (every event but the last two of each user)."""
        return self.histories(np.arange(self.n_users + 1), "valid")


def ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), without a Python loop."""
    ends = np.cumsum(lens)
    return np.repeat(starts - (ends - lens), lens) + np.arange(ends[-1] if len(ends) else 0)
