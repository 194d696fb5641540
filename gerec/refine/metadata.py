"""The metadata control: the catalogue's own genres or categories where ĝ goes.

What does the language model add beyond the metadata a catalogue already lists? This arm
(PROTOCOL.md, issue 16) puts each item's category one-hots in the refined table's attribute
slots — standardized; when there are more categories than slots, their first principal
components (fit on the items training sees); when fewer, beside zero columns — and profiles
a user by the mean of the items of their recent training history, as the language model
profiles them from those items' titles. Everything else (reduced part, normalization,
training) is the refined arm's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.decomposition import PCA

from gerec.data.sequences import Sequences
from gerec.errors import GerecError


def category_onehots(categories: Sequence[Sequence[str] | None]) -> tuple[np.ndarray, list[str]]:
    """(n, g) 0/1 matrix of each item's categories, and the g category names (sorted)."""
    names = sorted({c for cats in categories if cats for c in cats})
    if not names:
        raise GerecError("the dataset lists no genres or categories for its items, so it has no metadata arm "
                         "(MovieLens and the synthetic data list genres; csv/parquet: `--categories-col`)")
    column = {c: j for j, c in enumerate(names)}
    out = np.zeros((len(categories), len(names)), dtype=np.float32)
    for i, cats in enumerate(categories):
        out[i, [column[c] for c in cats or ()]] = 1.0
    return out, names


def metadata_scores(onehots: np.ndarray, names: list[str], width: int, fit_rows: np.ndarray,
                    seed: int) -> tuple[np.ndarray, list[str]]:
    """(n, width) standardized one-hots in ``width`` slots, and a name per slot.

    More categories than slots: the first ``width`` principal components of the standardized
    one-hots, fit on ``fit_rows`` (never on held-out items); fewer: zero columns beside them.
    """
    fit = onehots[fit_rows]
    std = fit.std(axis=0)
    x = (onehots - fit.mean(axis=0)) / np.where(std > 1e-12, std, 1.0)
    if x.shape[1] > width:
        pca = PCA(n_components=width, random_state=seed).fit(x[fit_rows])
        return pca.transform(x).astype(np.float32), [f"categories PC{j + 1}" for j in range(width)]
    pad = width - x.shape[1]
    return (np.pad(x, ((0, 0), (0, pad))).astype(np.float32),
            list(names) + [f"(no category {j + 1})" for j in range(pad)])


def history_profiles(seqs: Sequences, table: np.ndarray, recent: int) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, (n_users, width)): the mean row of ``table`` (item id − 1 → row) over each user's
    last ``recent`` training items — the items whose titles profile a user for the language model."""
    users = seqs.users
    hp, last = seqs.recent(users, "valid", recent)  # train split only: all but the last two events
    counts = np.diff(hp)
    sums = np.zeros((len(users), table.shape[1]), dtype=np.float64)
    np.add.at(sums, np.repeat(np.arange(len(users)), counts), table[last - 1])
    return users, (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
