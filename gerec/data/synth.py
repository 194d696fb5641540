"""The embedded default dataset: synthetic movies shaped like a real catalogue.

Each item has values in [0, 1] on eight named attributes and a text that sometimes *says*
them in plain words (a language model can read them back), sometimes only its genre; each
user has preference weights on the same attributes and on hidden factors no text states.
Items are released over time and their appeal is long-tailed, so, as in Amazon's
catalogues, most items have a handful of events and some test items are new. Sequences mix
stated taste (what a language model can explain), hidden taste and item-to-item follow-ups
(what a sequential ID model learns), appeal and novelty. The ground truth is saved beside
the data to check recovered scores against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gerec.artifacts import atomic_dir, write_json
from gerec.config import SEED_LIMIT, check
from gerec.data.formats import ColumnMap
from gerec.errors import DataError

# name, low-end phrases, high-end phrases. Like real descriptions, the text says what a film
# is rather than what it is not ("centres on friendship", not "no romance").
ATTRIBUTES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("story complexity",
     ("The story is simple and easy to follow.", "Its plot is straightforward and predictable."),
     ("The plot is intricate and layered, full of twists.", "A puzzle-box story that rewards close attention.")),
    ("humor",
     ("It is deadly serious and grave in tone.", "The mood is earnest and solemn throughout."),
     ("It is hilarious, with laugh-out-loud jokes.", "Witty banter and slapstick gags keep it funny.")),
    ("action intensity",
     ("It is quiet and calm, built on long conversations.", "A gentle film of talk and reflection."),
     ("Explosive action, gunfights and car chases.", "Relentless fight scenes and stunts from start to end.")),
    ("darkness",
     ("It is light-hearted, sunny and cheerful.", "A warm, upbeat and feel-good film."),
     ("It is dark, disturbing and violent.", "A bleak, menacing atmosphere of dread.")),
    ("romance",
     ("The story centres on friendship and rivalry.", "It is a tale of work, duty and survival."),
     ("A sweeping love story sits at its heart.", "A tender romance between two lovers.")),
    ("family friendliness",
     ("Strictly for adults, with graphic content.", "Not suitable for children."),
     ("Perfect for the whole family and young kids.", "A wholesome film children will love.")),
    ("visual spectacle",
     ("Modest, low-budget visuals on small sets.", "A plain-looking, stagey production."),
     ("Breathtaking visual effects and epic vistas.", "A dazzling spectacle of stunning imagery.")),
    ("pace",
     ("Slow and unhurried, a meditative watch.", "A slow-burning film that takes its time."),
     ("Fast-paced and thrilling, it never slows down.", "Brisk, breathless pacing from the first minute.")),
)

# Genres as attribute profiles (order of ATTRIBUTES): they give the catalogue structure.
GENRES: dict[str, tuple[float, ...]] = {
    "action blockbuster": (0.3, 0.3, 0.9, 0.4, 0.2, 0.4, 0.8, 0.9),
    "comedy": (0.2, 0.9, 0.2, 0.1, 0.4, 0.6, 0.3, 0.7),
    "family animation": (0.2, 0.7, 0.4, 0.1, 0.2, 0.95, 0.7, 0.6),
    "romantic drama": (0.4, 0.3, 0.1, 0.3, 0.95, 0.5, 0.3, 0.3),
    "psychological thriller": (0.9, 0.1, 0.5, 0.8, 0.2, 0.1, 0.4, 0.6),
    "horror": (0.4, 0.1, 0.5, 0.95, 0.1, 0.05, 0.4, 0.6),
    "science fiction epic": (0.8, 0.2, 0.7, 0.5, 0.3, 0.4, 0.95, 0.5),
    "art-house drama": (0.8, 0.2, 0.1, 0.6, 0.5, 0.2, 0.2, 0.1),
    "mystery": (0.9, 0.3, 0.3, 0.5, 0.3, 0.4, 0.3, 0.4),
    "war film": (0.5, 0.1, 0.8, 0.9, 0.3, 0.1, 0.7, 0.5),
}

ADJECTIVES = (
    "Silent Crimson Broken Golden Hidden Last Midnight Savage Gentle Hollow Iron Lost Burning Frozen "
    "Electric Velvet Secret Wild Distant Bitter Scarlet Shattered Quiet Restless Northern Forgotten "
    "Endless Sacred Wicked Lucky Brave Fallen Rising Paper Glass Stone Silver Emerald Neon Painted"
).split()
NOUNS = (
    "Harbor Garden Kingdom Signal Empire Horizon Machine Orchard Circus Frontier Station Lantern "
    "Voyage River Summer Witness Cathedral Code Island Mirror Engine Canyon Carnival Tide Archive "
    "Parade Ember Meadow Citadel Labyrinth Comet Atlas Reverie Outpost Serenade Tempest Compass"
).split()


MAX_CELLS = 200_000_000  # the generator scores every (user, item) pair at once: ~1.6 GB of float64


@dataclass
class SynthConfig:
    """Sizes and forces of the synthetic dataset.

    The defaults are chosen for realism, not for any model's score: the shape statistics of
    :func:`gerec.data.stats.realism` (the long tail of items, how many test items are new or
    rare, history lengths) fall within those of MovieLens-100K, Amazon Beauty and Amazon Games
    (``gerec data stats`` prints them side by side), and the whole pipeline stays within
    minutes on 2 cores.
    """

    n_items: int = 1500
    n_users: int = 5000
    mean_length: float = 10.0  # mean events per user; lengths are long-tailed (log-normal above min_length)
    min_length: int = 5
    max_length: int = 120
    taste: float = 4.0  # weight of the taste texts can state: user × the named attributes
    hidden_taste: float = 2.5  # weight of taste no text states (``hidden_factors`` latent factors): the ID model's job
    hidden_factors: int = 4
    stated: float = 0.6  # chance that a text states one of its item's marked attributes (else title, genre, year)
    follow_up: float = 4.0  # bonus for the last item's follow-ups (item-to-item order)
    same_genre: float = 0.6  # bonus for staying in the last item's genre
    popularity: float = 0.7  # weight of log item appeal (Pareto: a few items draw most events)
    recency: float = 2.0  # bonus for a newly released item, fading over novelty_days
    novelty_days: float = 60.0
    span_days: float = 730.0  # the timeline over which items are released and users are active
    backlist: float = 0.3  # share of items released before the first event (the rest arrive over the span)
    gap_days: float = 3.0  # mean time between a user's events
    seed: int = 7

    def __post_init__(self) -> None:
        if self.n_items < 20 or self.n_users < 2:
            raise DataError("synthetic data needs at least 20 items and 2 users")
        if self.n_items * self.n_users > MAX_CELLS:
            raise DataError(f"{self.n_users:,} users × {self.n_items:,} items is more than the generator's "
                            f"{MAX_CELLS:,} user-item scores in memory: generate fewer")
        check("seed", self.seed, 0, SEED_LIMIT, high_open=True)
        if not self.min_length >= 3 or self.max_length < self.min_length:
            raise DataError("need 3 <= min_length <= max_length")
        check("mean_length", self.mean_length, self.min_length, self.max_length)
        for name in ("taste", "hidden_taste", "follow_up", "same_genre", "popularity", "recency"):
            check(name, getattr(self, name), 0, 100)
        check("hidden_factors", self.hidden_factors, 0, 64)
        check("stated", self.stated, 0, 1)
        check("backlist", self.backlist, 0, 1, low_open=True)
        for name in ("novelty_days", "span_days", "gap_days"):
            check(name, getattr(self, name), 0, 36_500, low_open=True)
        if self.max_length >= max(round(self.n_items * self.backlist), 1):
            raise DataError(f"max_length ({self.max_length}) must be smaller than the items out at the start "
                            f"(n_items × backlist = {round(self.n_items * self.backlist)}): a user never repeats an item")


def attribute_schema() -> list[dict[str, str]]:
    """The attributes in schema form (name, description, low, high)."""
    return [{"name": name, "description": f"How strongly the film shows {name}.",
             "low": low[0], "high": high[0]} for name, low, high in ATTRIBUTES]


def _titles(rng: np.random.Generator, n: int) -> list[str]:
    combos = [f"The {a} {b}" for a in ADJECTIVES for b in NOUNS]
    order = rng.permutation(len(combos))
    suffixes = ["", " II", " III", " IV", " V"]
    titles = [combos[i % len(combos)] + suffixes[i // len(combos)] for i in order[: len(combos)]]
    while len(titles) < n:
        titles += [t + suffixes[len(titles) // len(combos)] for t in titles[: n - len(titles)]]
    return titles[:n]


def _describe(rng: np.random.Generator, title: str, genre: str, year: int, values: np.ndarray,
              stated: float) -> str:
    """A blurb as people write them: the genre always, a marked attribute (value ≥ 0.65 or ≤ 0.35)
    only with probability ``stated`` — some texts say a lot, some almost nothing."""
    sentences = [f"{title} ({year}) is a {genre}."]
    for (_, low, high), v in zip(ATTRIBUTES, values):
        if (v >= 0.65 or v <= 0.35) and rng.random() < stated:
            phrases = high if v >= 0.65 else low
            sentences.append(phrases[rng.integers(len(phrases))])
    head, rest = sentences[0], sentences[1:]
    rng.shuffle(rest)
    return " ".join([head, *rest])


def generate(config: SynthConfig) -> dict[str, pa.Table]:
    """Items, users and sequences as Arrow tables (deterministic in ``config.seed``).

    A timeline of ``span_days``: a backlist of items is out at the start, the rest are
    released over the span; users arrive over the span and act every ``gap_days`` on
    average, choosing among the items already released. A choice mixes stated taste (the
    attributes), hidden taste (factors no text states), long-tailed appeal, the novelty of a
    recent release, and the last item's follow-ups and genre.
    """
    rng = np.random.default_rng(config.seed)
    m, n_i, n_u, h = len(ATTRIBUTES), config.n_items, config.n_users, config.hidden_factors
    genre_names = list(GENRES)
    centers = np.array([GENRES[g] for g in genre_names])  # (G, m)
    genre = rng.integers(len(genre_names), size=n_i)
    values = np.clip(centers[genre] + rng.normal(0, 0.18, size=(n_i, m)), 0, 1)  # (I, m)
    appeal = np.log(rng.pareto(1.2, size=n_i) + 1.0)
    day = 86_400.0
    released = rng.uniform(0, config.span_days, n_i) * day
    released[rng.permutation(n_i)[: round(n_i * config.backlist)]] = -np.inf  # out before the first event
    backlist = np.isinf(released)
    years = np.where(backlist, rng.integers(1960, 2021, size=n_i), 2021 + np.where(backlist, 0, released) // (365 * day))
    titles = _titles(rng, n_i)
    texts = [_describe(rng, titles[i], genre_names[genre[i]], int(years[i]), values[i], config.stated)
             for i in range(n_i)]

    # Each item has 3 follow-ups in its own genre (sequels, "if you liked this, next ...").
    follow = np.zeros((n_i, n_i), dtype=bool)
    for g in range(len(genre_names)):
        members = np.flatnonzero(genre == g)
        if len(members) > 1:
            picks = rng.choice(members, size=(len(members), min(3, len(members) - 1)))
            follow[np.repeat(members, picks.shape[1]), picks.ravel()] = True
    np.fill_diagonal(follow, False)

    # Users: a favourite genre's profile plus personal noise (centred preference weights), and
    # hidden factors that no item text states.
    fav = rng.integers(len(genre_names), size=n_u)
    prefs = np.clip(centers[fav] + rng.normal(0, 0.25, size=(n_u, m)), 0, 1) - 0.5  # (U, m)
    hidden_u, hidden_i = rng.normal(0, 1, size=(n_u, h)), rng.normal(0, 1, size=(n_i, h))
    base = (config.taste * prefs @ (values - 0.5).T + config.hidden_taste * hidden_u @ hidden_i.T / max(h, 1) ** 0.5
            + config.popularity * appeal)  # (U, I)
    extra = config.mean_length - config.min_length  # log-normal above the minimum: a long tail of heavy users
    sigma = 1.1
    lengths = config.min_length + np.floor(rng.lognormal(np.log(max(extra, 1e-9)) - sigma ** 2 / 2, sigma, n_u))
    lengths = np.clip(lengths, config.min_length, config.max_length).astype(np.int64)
    steps = int(lengths.max())
    start = rng.uniform(0, config.span_days, n_u) * day
    stamps = start[:, None] + np.cumsum(rng.exponential(config.gap_days * day, size=(n_u, steps)), axis=1)
    seqs = np.zeros((n_u, steps), dtype=np.int64)
    seen = np.zeros((n_u, n_i), dtype=bool)
    same_genre = (genre[:, None] == genre[None, :]).astype(np.float64)  # (I, I)
    for t in range(steps):
        rows = np.flatnonzero(lengths > t)  # users still active: most histories are short
        age = stamps[rows, t, None] - released[None, :]  # seconds since release; negative: not out yet
        logits = base[rows] + config.recency * np.exp(-np.where(age >= 0, age, 0) / (config.novelty_days * day))
        if t > 0:
            last = seqs[rows, t - 1]
            logits += config.follow_up * follow[last] + config.same_genre * same_genre[last]
        logits[seen[rows] | (age < 0)] = -np.inf
        choice = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)  # sample from softmax(logits)
        seqs[rows, t] = choice
        seen[rows, choice] = True
    mask = np.arange(steps)[None, :] < lengths[:, None]
    user_idx, pos = np.nonzero(mask)

    item_key = np.array([f"m{i:05d}" for i in range(n_i)])
    user_key = np.array([f"u{u:05d}" for u in range(n_u)])
    names = [a[0] for a in ATTRIBUTES]
    epoch = 1_600_000_000
    return {
        "interactions": pa.table({"user": user_key[user_idx], "item": item_key[seqs[user_idx, pos]],
                                  "ts": (epoch + stamps[user_idx, pos]).astype(np.int64)}),
        "items": pa.table({"item": item_key, "title": titles, "text": texts,
                           "genre": [genre_names[g] for g in genre]}),
        "item_truth": pa.table({"item": item_key, **{n: values[:, j] for j, n in enumerate(names)},
                                "appeal": appeal, "released_day": pa.array(np.where(backlist, 0.0, released / day), mask=backlist),  # null: backlist
                                **{f"hidden_{k}": hidden_i[:, k] for k in range(h)}}),
        "user_truth": pa.table({"user": user_key, "favourite_genre": [genre_names[g] for g in fav],
                                **{n: prefs[:, j] for j, n in enumerate(names)},
                                **{f"hidden_{k}": hidden_u[:, k] for k in range(h)}}),
    }


def write_synthetic(config: SynthConfig, out_dir: Path) -> None:
    """Generate the dataset and write it with its ground truth and a manifest into ``out_dir``
    (swapped in whole: an interrupted run leaves the previous folder intact)."""
    tables = generate(config)
    with atomic_dir(out_dir) as tmp:
        for name, table in tables.items():
            pq.write_table(table, tmp / f"{name}.parquet")
        manifest: dict[str, Any] = {"config": asdict(config), "attributes": attribute_schema(),
                                    "genres": {g: list(v) for g, v in GENRES.items()},
                                    "rows": {name: t.num_rows for name, t in tables.items()}}
        write_json(tmp / "manifest.json", manifest)


def sized(n_items: int, n_users: int, seed: int = SynthConfig.seed) -> SynthConfig:
    """The default generator at another size: small catalogues get proportionally shorter
    sequences (no user repeats an item, and the first choices come from the backlist)."""
    max_length = max(min(SynthConfig.max_length, round(n_items * SynthConfig.backlist) - 1), SynthConfig.min_length)
    return SynthConfig(n_items=n_items, n_users=n_users, seed=seed, max_length=max_length,
                       mean_length=max(SynthConfig.min_length, min(SynthConfig.mean_length, max_length / 2)))


# How the synthetic folder reads through the ordinary Parquet importer (one import path).
COLUMNS = ColumnMap(user="user", item="item", time="ts", title="title", text=("text",), categories="genre")
