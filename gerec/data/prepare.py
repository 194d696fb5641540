"""From raw events to the canonical workspace tables, in DuckDB SQL.

Steps, each counted in the manifest: drop events below a rating threshold, check every
item has text, dedupe repeated user–item events (keep the first), iterative k-core (a
user needs at least 3 events for leave-one-out), dense ids, leave-one-out split.

Ties in time are broken by a seeded pseudo-random key computed from the original ids
(``md5(user, item, seed)``), never by file order or item id, so the split does not depend
on how the input file happens to be sorted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from gerec import __version__
from gerec.artifacts import sha256_file
from gerec.config import SEED_LIMIT, check, choice
from gerec.data.formats import RawDataset
from gerec.data.stats import describe
from gerec.errors import DataError

MIN_SEQUENCE = 3  # leave-one-out needs a train, a validation and a test event
TIE_POLICY = "order by (ts, md5(user_key, item_key, seed)); ties in ts broken by a seeded hash of original ids"


@dataclass
class ImportOptions:
    """Cleaning and split settings recorded in the manifest."""

    min_user: int = 0  # k-core: minimum events per user (at least 3 is always applied)
    min_item: int = 0  # k-core: minimum events per item
    dedupe: bool = True  # keep only the first event of a repeated user–item pair
    min_rating: float | None = None  # drop events rated below this
    missing_text: str = "error"  # events whose item has no text: "error" or "drop"
    seed: int = 42  # tie-breaking key
    # share of the catalogue held out as cold items: those first seen last in time. Their events
    # are removed except where one is a user's last (test) event, so no training window,
    # validation target, popularity count or feature fit ever sees them (PROTOCOL.md, cold items)
    cold_items: float = 0.0

    def __post_init__(self) -> None:
        check("cold_items", self.cold_items, 0, 0.5, high_open=True)
        choice("missing_text", self.missing_text, ("error", "drop"))
        check("min_user", self.min_user, 0)
        check("min_item", self.min_item, 0)
        if self.min_rating is not None:
            check("min_rating", self.min_rating)
        check("seed", self.seed, 0, SEED_LIMIT, high_open=True)


def _hold_out_cold(con: duckdb.DuckDBPyConnection, opts: ImportOptions) -> dict[str, Any]:
    """Pick the cold items (table ``cold``: the ``cold_items`` share first seen last in time) and
    keep only their events that are a user's last; users left too short for leave-one-out go."""
    n = round(opts.cold_items * _count(con, "SELECT count(*) FROM catalogue"))
    con.execute("""CREATE TABLE cold AS SELECT item_key FROM ev GROUP BY item_key
                   ORDER BY min(ts) DESC, md5(item_key || chr(31) || ?) LIMIT ?""", [str(opts.seed), n])
    if n == 0:  # nothing held out: the events stay as they are
        return {"share": opts.cold_items, "items": 0, "first_seen_from": None, "dropped": {}}
    first = con.execute("SELECT min(ts) FROM ev JOIN cold USING (item_key)").fetchall()[0][0]  # the cut in time
    before = _count(con, "SELECT count(*) FROM ev")
    con.execute("""CREATE OR REPLACE TABLE ev AS SELECT * EXCLUDE (last) FROM (
                       SELECT *, row_number() OVER (PARTITION BY user_key ORDER BY ts DESC, tie DESC) = 1 AS last
                       FROM ev) WHERE last OR item_key NOT IN (SELECT item_key FROM cold)""")
    removed = before - _count(con, "SELECT count(*) FROM ev")
    short = _count(con, f"SELECT count(*) FROM (SELECT user_key FROM ev GROUP BY 1 HAVING count(*) < {MIN_SEQUENCE})")
    con.execute(f"DELETE FROM ev WHERE user_key IN (SELECT user_key FROM ev GROUP BY 1 HAVING count(*) < {MIN_SEQUENCE})")
    return {"share": opts.cold_items, "items": n, "first_seen_from": None if first is None else str(first),
            "dropped": {"cold_item_events": removed, "users_short_after_cold": short}}


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def _check_raw(con: duckdb.DuckDBPyConnection, raw: RawDataset, opts: ImportOptions) -> dict[str, int]:
    """Validate raw events against item texts; returns the events dropped per reason."""
    bad = con.execute("""
        SELECT line, user_key IS NULL, item_key IS NULL, ts IS NULL FROM ev
        WHERE user_key IS NULL OR item_key IS NULL OR ts IS NULL ORDER BY line LIMIT 1
    """).fetchall()
    bad = bad[0] if bad else None
    if bad:
        what = "user id" if bad[1] else "item id" if bad[2] else "time"
        raise DataError(f"{raw.events_file}:{bad[0]}: event has no {what}")
    dup = con.execute("SELECT item_key FROM it GROUP BY item_key HAVING count(*) > 1 LIMIT 1").fetchall()
    dup = dup[0] if dup else None
    if dup:
        raise DataError(f"{raw.items_file}: item '{dup[0]}' has more than one entry")
    dropped: dict[str, int] = {}
    if opts.min_rating is not None:
        if _count(con, "SELECT count(*) FROM ev WHERE rating IS NULL"):
            raise DataError(f"{raw.events_file}: min_rating given but events have no rating")
        dropped["below_min_rating"] = int(con.execute("SELECT count(*) FROM ev WHERE rating < ?",
                                                      [opts.min_rating]).fetchall()[0][0])
        con.execute("DELETE FROM ev WHERE rating < ?", [opts.min_rating])
    missing = con.execute("""
        SELECT count(*), count(DISTINCT item_key), min(line), arg_min(item_key, line)
        FROM ev ANTI JOIN it USING (item_key)
    """).fetchall()[0]
    if missing[0]:
        if opts.missing_text == "error":
            raise DataError(
                f"{raw.events_file}:{missing[2]}: item '{missing[3]}' has no text in {raw.items_file} "
                f"({missing[1]} such items, {missing[0]} events; missing_text='drop' drops them)"
            )
        con.execute("DELETE FROM ev WHERE item_key NOT IN (SELECT item_key FROM it)")
    dropped["missing_text"] = int(missing[0])
    return dropped


def _kcore(con: duckdb.DuckDBPyConnection, opts: ImportOptions) -> dict[str, int]:
    """Iterative k-core: remove short users and rare items until both thresholds hold."""
    min_user = max(opts.min_user, MIN_SEQUENCE)
    out = {"rounds": 0, "users_fewer_than_3": 0, "users_below_min_user": 0, "items_below_min_item": 0}
    while True:
        user_n = con.execute("SELECT user_key, count(*) AS n FROM ev GROUP BY user_key HAVING n < ?",
                             [min_user]).fetchall()
        short = sum(1 for _, n in user_n if n < MIN_SEQUENCE)
        out["users_fewer_than_3"] += short
        out["users_below_min_user"] += len(user_n) - short
        if user_n:
            con.execute("DELETE FROM ev WHERE user_key IN (SELECT user_key FROM ev GROUP BY user_key HAVING count(*) < ?)",
                        [min_user])
        rare = 0
        if opts.min_item > 1:
            rare = _count(con, f"SELECT count(*) FROM (SELECT item_key FROM ev GROUP BY 1 HAVING count(*) < {opts.min_item})")
            if rare:
                con.execute("DELETE FROM ev WHERE item_key IN "
                            f"(SELECT item_key FROM ev GROUP BY item_key HAVING count(*) < {opts.min_item})")
            out["items_below_min_item"] += rare
        out["rounds"] += 1
        if not rare:
            return out


def prepare(raw: RawDataset, opts: ImportOptions, out_dir: Path) -> dict[str, Any]:
    """Clean, filter, remap and split ``raw``; write the canonical tables into ``out_dir``."""
    con = duckdb.connect()
    con.register("raw_events", raw.events)
    con.register("raw_items", raw.items)
    con.execute("CREATE TABLE ev AS SELECT * FROM raw_events")
    con.execute("CREATE TABLE it AS SELECT * FROM raw_items")
    raw_stats = describe(con, "ev", user="user_key", item="item_key")
    raw_stats["item_texts"] = _count(con, "SELECT count(*) FROM it")
    raw_stats["item_texts_empty"] = _count(con, "SELECT count(*) FROM it WHERE trim(coalesce(text, '')) = ''")
    dropped = _check_raw(con, raw, opts)
    con.execute("ALTER TABLE ev ADD COLUMN tie VARCHAR")
    con.execute("UPDATE ev SET tie = md5(user_key || chr(31) || item_key || chr(31) || ?)", [str(opts.seed)])
    if opts.dedupe:
        before = _count(con, "SELECT count(*) FROM ev")
        con.execute("""CREATE OR REPLACE TABLE ev AS SELECT * FROM ev
                       QUALIFY row_number() OVER (PARTITION BY user_key, item_key ORDER BY ts, tie) = 1""")
        dropped["duplicates"] = before - _count(con, "SELECT count(*) FROM ev")
    kcore = _kcore(con, opts)
    if _count(con, "SELECT count(*) FROM ev") == 0:
        raise DataError(f"{raw.events_file}: no interactions left after filtering "
                        f"(min_user={opts.min_user}, min_item={opts.min_item}, min_rating={opts.min_rating})")
    con.execute("CREATE TABLE catalogue AS SELECT DISTINCT item_key FROM ev")  # cold items stay rankable
    cold = _hold_out_cold(con, opts)
    # Dense ids start at 1: id 0 is the padding index of every model.
    for kind, key, source in (("user", "user_key", "ev"), ("item", "item_key", "catalogue")):
        con.execute(f"""CREATE TABLE {kind}_ids AS
            SELECT {key} AS original_id,
                   row_number() OVER (ORDER BY TRY_CAST({key} AS BIGINT) NULLS LAST, {key})::INTEGER AS id
            FROM (SELECT DISTINCT {key} FROM {source})""")
    con.execute("""CREATE TABLE seq AS
        SELECT u.id AS user_id, i.id AS item_id, ev.ts,
               (row_number() OVER (PARTITION BY u.id ORDER BY ev.ts, ev.tie) - 1)::INTEGER AS seq,
               count(*) OVER (PARTITION BY u.id) AS n
        FROM ev JOIN user_ids u ON ev.user_key = u.original_id JOIN item_ids i ON ev.item_key = i.original_id""")
    con.execute("""CREATE TABLE inter AS
        SELECT user_id, item_id, ts, seq,
               CASE WHEN seq = n - 1 THEN 'test' WHEN seq = n - 2 THEN 'valid' ELSE 'train' END AS split,
               lag(ts) OVER w AS prev_ts, lead(ts) OVER w AS next_ts
        FROM seq WINDOW w AS (PARTITION BY user_id ORDER BY seq)""")
    tied_test = _count(con, "SELECT count(*) FROM inter WHERE split = 'test' AND ts = prev_ts")
    tied_valid = _count(con, "SELECT count(*) FROM inter WHERE split = 'valid' AND (ts = prev_ts OR ts = next_ts)")
    split_counts = dict(con.execute("SELECT split, count(*) FROM inter GROUP BY split").fetchall())
    final = describe(con, "inter", user="user_id", item="item_id")
    final["items"] = _count(con, "SELECT count(*) FROM item_ids")  # the catalogue: held-out items included

    files = {
        "interactions.parquet": "SELECT user_id, item_id, ts, seq, split FROM inter ORDER BY user_id, seq",
        "items.parquet": """SELECT i.id AS item_id, it.title, it.text, it.categories, c.item_key IS NOT NULL AS cold
                            FROM item_ids i JOIN it ON it.item_key = i.original_id
                            LEFT JOIN cold c ON c.item_key = i.original_id ORDER BY i.id""",
        "id_map.parquet": """SELECT 'user' AS kind, original_id, id FROM user_ids
                             UNION ALL SELECT 'item', original_id, id FROM item_ids ORDER BY kind DESC, id""",
    }
    for name, sql in files.items():
        con.sql(sql).write_parquet(str(out_dir / name))  # the relation API: no path inside SQL text
    return {
        "gerec_version": __version__,
        "duckdb_version": duckdb.__version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "order": raw.order,
        "source": {str(p): sha256_file(p) for p in raw.sources},
        "options": asdict(opts),
        "raw": raw_stats,
        "dropped": {**dropped, **kcore, **cold.pop("dropped")},
        "cold_items": {**cold, "test_events": _count(
            con, "SELECT count(*) FROM inter JOIN item_ids i ON inter.item_id = i.id "
                 "JOIN cold c ON c.item_key = i.original_id WHERE split = 'test'")},
        "final": final,
        "split": {
            "protocol": "leave-one-out (last event test, second-to-last validation, rest train)",
            "seed": opts.seed,
            "tie_policy": TIE_POLICY,
            "tied_test_events": tied_test,
            "tied_valid_events": tied_valid,
            **{k: int(split_counts.get(k, 0)) for k in ("train", "valid", "test")},
        },
        "files": {name: sha256_file(out_dir / name) for name in files},
    }
