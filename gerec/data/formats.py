"""Readers: each source format becomes the same raw shape, before any cleaning.

A reader returns a :class:`RawDataset` of two Arrow tables with original (string) ids:

* ``events(user_key, item_key, ts, rating, line)`` — ``ts`` is a unix time in seconds or,
  where the source only has order, the position; ``line`` is the 1-based line of the
  event in its file, so later errors can point at it;
* ``items(item_key, title, text)`` — ``text`` is what a language model reads.

Cleaning, k-core, id remapping and splitting are shared and live in :mod:`gerec.data.prepare`.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from gerec.errors import DataError

FORMATS = ("movielens", "amazon-reviews", "sequences", "csv", "parquet")

EVENTS_SCHEMA = pa.schema(
    [("user_key", pa.string()), ("item_key", pa.string()), ("ts", pa.int64()),
     ("rating", pa.float64()), ("line", pa.int64())]
)
# ``categories``: the item's genres or categories where the source lists them (null elsewhere):
# metadata a control arm compares the language model's scores with (PROTOCOL.md).
ITEMS_SCHEMA = pa.schema([("item_key", pa.string()), ("title", pa.string()), ("text", pa.string()),
                          ("categories", pa.list_(pa.string()))])

# MovieLens 100K genre order (u.genre), used when u.genre is absent.
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


@dataclass
class RawDataset:
    """Events and item texts as read, with original ids."""

    events: pa.Table
    items: pa.Table
    events_file: Path
    items_file: Path | None
    order: str  # "timestamp" or "position"
    sources: list[Path] = field(default_factory=list)


@dataclass
class ColumnMap:
    """Column names for the ``csv`` and ``parquet`` formats."""

    user: str = "user_id"
    item: str = "item_id"
    time: str | None = "timestamp"
    rating: str | None = None
    item_id: str | None = None  # id column in the items file (default: same as ``item``)
    title: str = "title"
    text: Sequence[str] = ()  # columns joined into the language-model text (default: the title)
    categories: str | None = None  # an items-file column of '|'-separated genres or categories


# -- small shared helpers -------------------------------------------------------------------

def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{path}: {what} not found")
    if path.is_dir():
        raise DataError(f"{path}: expected a file ({what}), got a folder")
    return path


def _read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """All lines of a (possibly gzipped) text file; a decoding error names the line."""
    opener: Callable = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a complete gzip file ({err or 'truncated'})") from None
    if encoding == "utf-8" and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a byte-order mark is not part of the first line
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path}:{line}: not valid {encoding} text ({err.reason})") from None
    return text.splitlines()


def _duck(con: duckdb.DuckDBPyConnection, sql: str, path: Path, params: list | None = None) -> pa.Table:
    """Run a DuckDB query over a file; its errors become one line that names the file."""
    try:
        return con.sql(sql, params=params or []).to_arrow_table()
    except duckdb.Error as err:
        first = str(err).strip().splitlines()[0]
        raise DataError(f"{path}: cannot read ({first})") from None


def _events_table(users: list[str], items: list[str], ts: list[int], lines: list[int]) -> pa.Table:
    return pa.table(
        {"user_key": users, "item_key": items, "ts": ts,
         "rating": pa.nulls(len(users), pa.float64()), "line": lines},
        schema=EVENTS_SCHEMA,
    )


def _items_table(keys: list[str], titles: list[str], texts: list[str],
                 categories: list[list[str]] | None = None) -> pa.Table:
    kind = pa.list_(pa.string())
    cats = pa.array(categories, kind) if categories is not None else pa.nulls(len(keys), kind)
    return pa.table({"item_key": keys, "title": titles, "text": texts, "categories": cats}, schema=ITEMS_SCHEMA)


def _has_header(fields: list[str]) -> bool:
    """A first line is a header when its fields look like column names about users/items."""
    names = [f.strip().lower() for f in fields]
    return all(re.fullmatch(r"[a-z_][a-z0-9_ ]*", n) for n in names) and any(
        "user" in n or "item" in n or n in {"asin", "title", "text"} for n in names
    )


# -- movielens ------------------------------------------------------------------------------

def _genres(genres: Sequence[str]) -> list[str]:
    """The genres a film is listed with, without MovieLens's placeholders."""
    return [g for g in genres if g and g != "(no genres listed)" and g != "unknown"]


def _movie_text(title: str, genres: list[str]) -> str:
    return f"{title}. Genres: {', '.join(genres)}." if genres else f"{title}."


def read_movielens(path: Path) -> RawDataset:
    """MovieLens 100K (u.data/u.item), 1M (ratings.dat/movies.dat) or ml-latest (CSV)."""
    if not path.is_dir():
        raise DataError(f"{path}: the movielens format expects the dataset's folder")
    con = duckdb.connect()
    if (path / "u.data").exists():
        events_file, items_file = path / "u.data", _require(path / "u.item", "u.item")
        events = _duck(con, """
            SELECT column0::VARCHAR AS user_key, column1::VARCHAR AS item_key, column3::BIGINT AS ts,
                   column2::DOUBLE AS rating, (row_number() OVER ())::BIGINT AS line
            FROM read_csv(?, delim='\t', header=false, columns={
                'column0': 'BIGINT', 'column1': 'BIGINT', 'column2': 'DOUBLE', 'column3': 'BIGINT'})
        """, events_file, [str(events_file)])
        genre_file = path / "u.genre"
        genres = ML100K_GENRES
        if genre_file.exists():
            genres = tuple(l.split("|")[0] for l in _read_lines(genre_file, "latin-1") if l.strip())
        keys, titles, texts, cats = [], [], [], []
        for n, line in enumerate(_read_lines(items_file, "latin-1"), 1):
            if not line.strip():
                continue
            parts = line.split("|")
            if len(parts) != 5 + len(genres):
                raise DataError(f"{items_file}:{n}: expected {5 + len(genres)} '|'-separated fields, got {len(parts)}")
            cats.append(_genres([g for g, f in zip(genres, parts[5:]) if f == "1"]))
            keys.append(parts[0])
            titles.append(parts[1])
            texts.append(_movie_text(parts[1], cats[-1]))
        items = _items_table(keys, titles, texts, cats)
    elif (path / "ratings.dat").exists():
        events_file, items_file = path / "ratings.dat", _require(path / "movies.dat", "movies.dat")
        events = _duck(con, """
            SELECT column0::VARCHAR AS user_key, column1::VARCHAR AS item_key, column3::BIGINT AS ts,
                   column2::DOUBLE AS rating, (row_number() OVER ())::BIGINT AS line
            FROM read_csv(?, delim='::', header=false, columns={
                'column0': 'BIGINT', 'column1': 'BIGINT', 'column2': 'DOUBLE', 'column3': 'BIGINT'})
        """, events_file, [str(events_file)])
        keys, titles, texts, cats = [], [], [], []
        for n, line in enumerate(_read_lines(items_file, "latin-1"), 1):
            if not line.strip():
                continue
            parts = line.split("::")
            if len(parts) != 3:
                raise DataError(f"{items_file}:{n}: expected 'MovieID::Title::Genres'")
            cats.append(_genres(parts[2].split("|")))
            keys.append(parts[0])
            titles.append(parts[1])
            texts.append(_movie_text(parts[1], cats[-1]))
        items = _items_table(keys, titles, texts, cats)
    elif (path / "ratings.csv").exists():
        events_file, items_file = path / "ratings.csv", _require(path / "movies.csv", "movies.csv")
        events = _duck(con, """
            SELECT userId::VARCHAR AS user_key, movieId::VARCHAR AS item_key, timestamp::BIGINT AS ts,
                   rating::DOUBLE AS rating, (row_number() OVER () + 1)::BIGINT AS line
            FROM read_csv(?, header=true)
        """, events_file, [str(events_file)])
        movies = _duck(con, "SELECT movieId::VARCHAR AS k, title, genres FROM read_csv(?, header=true, all_varchar=true)",
                       items_file, [str(items_file)])
        keys = movies["k"].to_pylist()
        titles = movies["title"].to_pylist()
        cats = [_genres((g or "").split("|")) for g in movies["genres"].to_pylist()]
        texts = [_movie_text(t, c) for t, c in zip(titles, cats)]
        items = _items_table(keys, titles, texts, cats)
    else:
        raise DataError(
            f"{path}: not a MovieLens folder (expected u.data + u.item, ratings.dat + movies.dat, "
            "or ratings.csv + movies.csv)"
        )
    return RawDataset(events, items, events_file, items_file, "timestamp", [events_file, items_file])


# -- amazon reviews -------------------------------------------------------------------------

def _parse_meta_line(line: str, path: Path, n: int) -> dict:
    """2018 metadata is JSON; 2014 metadata is Python-literal dicts (single quotes)."""
    try:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = ast.literal_eval(line)
    except (ValueError, SyntaxError, TypeError, MemoryError):
        raise DataError(f"{path}:{n}: not a JSON (or 2014-style) metadata record") from None
    except RecursionError:
        raise DataError(f"{path}:{n}: metadata record nested too deeply") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}:{n}: a metadata record must be an object, got {type(value).__name__}")
    return value


def _flatten(value: object, depth: int = 0) -> list[str]:
    """The strings inside nested lists (categories, descriptions); anything else is ignored."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or depth > 8:
        return []
    out: list[str] = []
    for v in value:
        out.extend(_flatten(v, depth + 1))
    return out


def _amazon_categories(meta: dict) -> list[str]:
    return list(dict.fromkeys(c.strip() for c in _flatten(meta.get("categories") or meta.get("category")) if c.strip()))


def _amazon_text(meta: dict) -> tuple[str, str]:
    title = meta.get("title") if isinstance(meta.get("title"), str) else ""
    title = title.strip()
    cats = _amazon_categories(meta)
    parts = [title + "." if title else ""]
    if meta.get("brand"):
        parts.append(f"Brand: {str(meta['brand']).strip()}.")
    if cats:
        parts.append(f"Categories: {', '.join(cats)}.")
    desc = " ".join(d.strip() for d in _flatten(meta.get("description")) if d.strip())
    if desc:
        parts.append(f"Description: {desc}")
    return title, " ".join(p for p in parts if p)


def read_amazon_reviews(path: Path, meta: Path | None) -> RawDataset:
    """McAuley-lab review JSON lines (reviewerID, asin, unixReviewTime[, overall]) + metadata."""
    _require(path, "review file")
    if meta is None:
        raise DataError(f"{path}: the amazon-reviews format needs the metadata file too (items: the META.json[.gz] file)")
    _require(meta, "metadata file")
    con = duckdb.connect()
    events = _duck(con, """
        SELECT reviewerID::VARCHAR AS user_key, asin::VARCHAR AS item_key, unixReviewTime::BIGINT AS ts,
               overall::DOUBLE AS rating, (row_number() OVER ())::BIGINT AS line
        FROM read_json(?, format='newline_delimited', columns={
            'reviewerID': 'VARCHAR', 'asin': 'VARCHAR', 'unixReviewTime': 'BIGINT', 'overall': 'DOUBLE'})
    """, path, [str(path)])
    for col in ("user_key", "item_key", "ts"):
        if events.num_rows and events[col].null_count == events.num_rows:
            field_name = {"user_key": "reviewerID", "item_key": "asin", "ts": "unixReviewTime"}[col]
            raise DataError(f"{path}: no '{field_name}' field in any record (is this a review file?)")
    keys, titles, texts, cats = [], [], [], []
    for n, line in enumerate(_read_lines(meta), 1):
        if not line.strip():
            continue
        record = _parse_meta_line(line, meta, n)
        if "asin" not in record:
            raise DataError(f"{meta}:{n}: metadata record has no 'asin'")
        title, text = _amazon_text(record)
        keys.append(str(record["asin"]))
        titles.append(title)
        texts.append(text)
        cats.append(_amazon_categories(record))
    return RawDataset(events, _items_table(keys, titles, texts, cats), path, meta, "timestamp", [path, meta])


# -- sequences ------------------------------------------------------------------------------

def read_sequences(path: Path, items_path: Path | None) -> RawDataset:
    """One user per line in time order: ``user item item ...`` (whitespace) or a TSV whose
    first column is the user and last column the space-separated items (header optional).
    A user on several lines has their lines concatenated in file order.

    Items file: ``item_id<TAB>text``, ``asin text ...`` (whitespace), or a TSV with a header
    naming ``item_id`` and ``title`` columns.
    """
    _require(path, "sequence file")
    if items_path is None:
        raise DataError(f"{path}: the sequences format needs an items file (items: one line per item)")
    _require(items_path, "items file")
    lines = _read_lines(path)
    users: list[str] = []
    item_keys: list[str] = []
    positions: list[int] = []
    line_numbers: list[int] = []
    seen: dict[str, int] = {}  # user → items read so far: a later line continues the sequence
    start = 1 if lines and "\t" in lines[0] and _has_header(lines[0].split("\t")) else 0
    for n, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            continue
        if "\t" in line:
            fields = line.split("\t")
            user, seq = fields[0].strip(), fields[-1].split()
            if len(fields) < 2:
                raise DataError(f"{path}:{n}: expected 'user<TAB>...<TAB>items'")
        else:
            user, *seq = line.split()
        if not seq:
            raise DataError(f"{path}:{n}: user '{user}' has no items")
        offset = seen.get(user, 0)
        seen[user] = offset + len(seq)
        users.extend([user] * len(seq))
        item_keys.extend(seq)
        positions.extend(range(offset, offset + len(seq)))
        line_numbers.extend([n] * len(seq))
    events = _events_table(users, item_keys, positions, line_numbers)
    return RawDataset(events, _read_items_text(items_path), path, items_path, "position", [path, items_path])


def _read_items_text(path: Path) -> pa.Table:
    lines = _read_lines(path)
    keys, titles, texts = [], [], []
    if lines and "\t" in lines[0] and _has_header(lines[0].split("\t")):
        header = [h.strip().lower() for h in lines[0].split("\t")]
        id_col = header.index("item_id") if "item_id" in header else 0
        text_cols = [header.index(c) for c in ("title", "text") if c in header] or [
            i for i in range(len(header)) if i != id_col]
        for n, line in enumerate(lines[1:], 2):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != len(header):
                raise DataError(f"{path}:{n}: expected {len(header)} tab-separated fields, got {len(fields)}")
            text = ". ".join(fields[i].strip() for i in text_cols if fields[i].strip())
            keys.append(fields[id_col].strip())
            titles.append(fields[text_cols[0]].strip())
            texts.append(text)
    else:
        for line in lines:
            if not line.strip():
                continue
            # An id with empty text is kept (it is listed); the manifest counts such items.
            key, _, text = line.partition("\t") if "\t" in line else line.partition(" ")
            keys.append(key.strip())
            titles.append(text.strip())
            texts.append(text.strip())
    return _items_table(keys, titles, texts)


# -- csv / parquet with a column mapping ---------------------------------------------------

def _relation_sql(fmt: str) -> str:
    return "read_parquet(?)" if fmt == "parquet" else "read_csv(?, header=true)"


def _check_columns(con: duckdb.DuckDBPyConnection, fmt: str, path: Path, wanted: dict[str, str | None]) -> dict[str, str]:
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM {_relation_sql(fmt)}", [str(path)]).fetchall()
    except duckdb.Error as err:
        raise DataError(f"{path}: cannot read as {fmt} ({str(err).strip().splitlines()[0]})") from None
    types = {row[0]: row[1] for row in desc}
    for option, col in wanted.items():
        if col is not None and col not in types:
            raise DataError(f"{path}: no column '{col}' for the {option}; columns are: {', '.join(types)}")
    return types


def read_table(fmt: str, path: Path, items_path: Path | None, cols: ColumnMap) -> RawDataset:
    """Interactions from a CSV or Parquet file (and item texts from another) by column names."""
    _require(path, f"{fmt} file")
    con = duckdb.connect()
    types = _check_columns(con, fmt, path, {"user column": cols.user, "item column": cols.item,
                                            "time column": cols.time, "rating column": cols.rating})
    q = lambda c: '"' + c.replace('"', '""') + '"'  # noqa: E731 - quoting an identifier
    if cols.time is None:
        ts_sql = f"(row_number() OVER (PARTITION BY {q(cols.user)} ORDER BY __line))::BIGINT - 1"
        order = "position"
    elif types[cols.time].startswith(("TIMESTAMP", "DATE")):
        ts_sql = f"epoch({q(cols.time)}::TIMESTAMP)::BIGINT"
        order = "timestamp"
    elif types[cols.time] == "VARCHAR":
        ts_sql = f"epoch(TRY_CAST({q(cols.time)} AS TIMESTAMP))::BIGINT"
        order = "timestamp"
    else:
        ts_sql = f"{q(cols.time)}::BIGINT"
        order = "timestamp"
    rating_sql = f"{q(cols.rating)}::DOUBLE" if cols.rating else "NULL::DOUBLE"
    header = 1 if fmt == "csv" else 0
    events = _duck(con, f"""
        WITH src AS (
            SELECT *, (row_number() OVER () + {header})::BIGINT AS __line FROM {_relation_sql(fmt)}
        ), keyed AS (
            SELECT {q(cols.user)}::VARCHAR AS user_key, {q(cols.item)}::VARCHAR AS item_key,
                   {ts_sql} AS ts, {rating_sql} AS rating, __line AS line
            FROM src
        )
        SELECT * FROM keyed
    """, path, [str(path)])
    if cols.time is not None and events["ts"].null_count:
        raise DataError(f"{path}: column '{cols.time}' has {events['ts'].null_count} values that are not times")
    if items_path is None:
        keys = events["item_key"].unique().to_pylist()
        items = _items_table(keys, keys, [""] * len(keys))
    else:
        item_fmt = "parquet" if items_path.suffix == ".parquet" else "csv"
        _require(items_path, "items file")
        id_col = cols.item_id or cols.item
        _check_columns(con, item_fmt, items_path, {"items file's id column": id_col, "title column": cols.title})
        for column in cols.text:
            _check_columns(con, item_fmt, items_path, {"text column": column})
        if cols.categories:
            _check_columns(con, item_fmt, items_path, {"categories column": cols.categories})
        text_sql = " || '. ' || ".join(f"coalesce({q(c)}::VARCHAR, '')" for c in (cols.text or (cols.title,)))
        cat_sql = (f"list_filter(list_transform(string_split({q(cols.categories)}::VARCHAR, '|'), lambda c: trim(c)), "
                   "lambda c: c <> '')" if cols.categories else "NULL::VARCHAR[]")
        items = _duck(con, f"""
            SELECT {q(id_col)}::VARCHAR AS item_key, coalesce({q(cols.title)}::VARCHAR, '') AS title,
                   {text_sql} AS text, {cat_sql} AS categories
            FROM {_relation_sql(item_fmt)}
        """, items_path, [str(items_path)])
    sources = [path] + ([items_path] if items_path else [])
    return RawDataset(events, items, path, items_path, order, sources)


def read_dataset(fmt: str, path: str | Path, items: str | Path | None = None,
                 columns: ColumnMap | None = None) -> RawDataset:
    """Read a dataset in one of :data:`FORMATS`."""
    path = Path(path)
    items_path = Path(items) if items is not None else None
    if not path.exists():
        raise DataError(f"{path}: not found")
    if fmt == "movielens":
        return read_movielens(path)
    if fmt == "amazon-reviews":
        return read_amazon_reviews(path, items_path)
    if fmt == "sequences":
        return read_sequences(path, items_path)
    if fmt in ("csv", "parquet"):
        return read_table(fmt, path, items_path, columns or ColumnMap())
    raise DataError(f"unknown format '{fmt}'; choose one of: {', '.join(FORMATS)}")
