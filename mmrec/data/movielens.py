"""MovieLens in its GroupLens layouts: 100K (plus the optional IMDb texts and posters), 1M and 20M.

``ml-100k/`` holds ``u.data`` (tab: user, item, rating, timestamp), ``u.item`` (pipe, latin-1: id, title,
release date, video date, URL, 19 genre flags) and ``u.user`` (pipe: id, age, gender, occupation, zip).
``ml-100k-extras/`` (beside it) adds ``imdb.jsonl`` (plot, director, writer, cast, ...) and
``posters/<item_id>.jpg``. Item fields available to ``text_fields``: title, year, genres, release_date,
description, director, writer, cast, age_rating.

``ml-1m/`` holds ``ratings.dat`` (user::item::rating::timestamp), ``movies.dat`` (item::title::genres, genres
``|``-separated) and ``users.dat`` (user::gender::age::occupation::zip), all ``::``-separated latin-1 without
a header. ``ml-20m/`` holds CSVs with a header: ``ratings.csv`` (userId,movieId,rating,timestamp),
``movies.csv`` (movieId,title,genres; quoted titles), ``tags.csv`` (userId,movieId,tag,timestamp), and files
the loader does not read (links, genome). Item fields of both: title, year, genres; ml-20m adds ``tags``
(the item's most used tags). ml-20m has no users table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from mmrec.data.build import RawFrame, build_tables
from mmrec.data.delimited import read_delimited
from mmrec.data.errors import DataError
from mmrec.data.tables import Tables

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
ITEM_COLUMNS = ["item_id", "title", "release_date", "video_release_date", "url", *GENRES]
MAX_CAST = 5  # leading actors kept in the item text
MAX_TAGS = 10  # most used tags kept per item (ml-20m)
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _read(path: Path, names: list[str], sep: str, encoding: str = "utf-8") -> RawFrame:
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        frame = pd.read_csv(path, sep=sep, names=names, header=None, encoding=encoding, dtype=str,
                            keep_default_na=False, engine="python" if sep == "|" else "c")
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot parse: {exc}") from None
    return RawFrame(frame, path, first_line=1)


def _read_imdb(path: Path) -> dict[str, dict]:
    extras = {}
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                extras[str(int(record["movie_id"]))] = record
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DataError(path, f"bad JSON record ({exc})", row=line_no, column="movie_id") from None
    return extras


def load_movielens_100k(root: str | Path, text_fields: list[str], with_images: bool = True,
                        duplicates: str = "drop") -> Tables:
    """Load ``root`` (the ``ml-100k`` folder); extras are read from ``root/../ml-100k-extras`` when present."""
    root = Path(root)
    base = root.parent
    items = _read(root / "u.item", ITEM_COLUMNS, "|", encoding="latin-1")
    interactions = _read(root / "u.data", ["user_id", "item_id", "rating", "timestamp"], "\t")
    users = _read(root / "u.user", ["user_id", "age", "gender", "occupation", "zip_code"], "|")

    frame = items.frame
    flags = frame[GENRES].apply(pd.to_numeric, errors="coerce")
    if flags.isna().any().any():
        row, col = map(int, next(zip(*flags.isna().to_numpy().nonzero())))
        raise DataError(items.file, "genre flag is not 0/1", row=items.line(row), column=GENRES[col])
    genres = [[g for g, flag in zip(GENRES, row) if flag == 1 and g != "unknown"] for row in flags.to_numpy()]
    fields = pd.DataFrame({
        "item_id": frame["item_id"],
        "title": frame["title"].str.strip(),
        "year": frame["release_date"].str[-4:],
        "genres": [", ".join(g) for g in genres],
        "release_date": frame["release_date"],
    })

    extras_dir = base / "ml-100k-extras"
    imdb = _read_imdb(extras_dir / "imdb.jsonl") if (extras_dir / "imdb.jsonl").is_file() else {}
    for column in ("description", "director", "writer", "cast", "age_rating"):
        values = []
        for item_id in fields["item_id"]:
            value = imdb.get(str(item_id).strip(), {}).get(column)
            if column == "cast" and isinstance(value, list):
                value = value[:MAX_CAST]
            values.append(", ".join(value) if isinstance(value, list) else (value or ""))
        fields[column] = values
    if with_images and (extras_dir / "posters").is_dir():
        fields["image"] = [f"ml-100k-extras/posters/{str(i).strip()}.jpg" for i in fields["item_id"]]

    return build_tables(
        name="ml-100k",
        root=base,
        items=RawFrame(fields, items.file, items.first_line),
        interactions=interactions,
        users=users,
        text_fields=text_fields,
        image_column="image",
        duplicates=duplicates,
    )


def _movie_fields(movies: pd.DataFrame) -> pd.DataFrame:
    """item_id, title, year (from "Title (1995)"), genres ("A|B" -> "A, B"; "(no genres listed)" -> "")."""
    genres = movies["genres"].str.replace("(no genres listed)", "", regex=False).str.split("|")
    return pd.DataFrame({
        "item_id": movies["item_id"],
        "title": movies["title"].str.strip(),
        "year": movies["title"].str.extract(_YEAR, expand=False).fillna(""),
        "genres": [", ".join(g for g in row if g) for row in genres],
    })


def load_movielens_1m(root: str | Path, text_fields: list[str], duplicates: str = "drop") -> Tables:
    """Load the ``ml-1m`` folder (GroupLens ``::`` layout, latin-1)."""
    root = Path(root)
    read = {name: (root / name, read_delimited(root / name, cols, "::", encoding="latin-1")) for name, cols in (
        ("movies.dat", ["item_id", "title", "genres"]),
        ("ratings.dat", ["user_id", "item_id", "rating", "timestamp"]),
        ("users.dat", ["user_id", "gender", "age", "occupation", "zip_code"]))}
    (movies_path, movies), (ratings_path, ratings), (users_path, users) = read.values()
    return build_tables(
        name="ml-1m", root=root,
        items=RawFrame(_movie_fields(movies), movies_path, 1),
        interactions=RawFrame(ratings, ratings_path, 1),
        users=RawFrame(users, users_path, 1),
        text_fields=text_fields, image_column=None, duplicates=duplicates,
    )


def _read_csv(path: Path, rename: dict[str, str], numeric: dict[str, str]) -> RawFrame:
    """A headed CSV; typed where it parses (fast and compact for 20M rows), else all strings so that the
    checks in :func:`build_tables` name the bad line and column."""
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        try:
            frame = pd.read_csv(path, dtype=numeric, keep_default_na=False)
        except ValueError:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(path, f"cannot parse: {exc}") from None
    return RawFrame(frame.rename(columns=rename), path, first_line=2)


def _top_tags(tags: pd.DataFrame) -> dict[str, str]:
    """item_id -> its MAX_TAGS most used tags (ties by first use), lower-cased and comma-joined."""
    tags = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower(), item_id=tags["item_id"].astype(str))
    tags = tags[tags["tag"] != ""]
    counts = tags.groupby(["item_id", "tag"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["item_id", "n"], ascending=[True, False], kind="stable")
    return counts.groupby("item_id", sort=False)["tag"].agg(lambda t: ", ".join(t[:MAX_TAGS])).to_dict()


def load_movielens_20m(root: str | Path, text_fields: list[str], duplicates: str = "drop") -> Tables:
    """Load the ``ml-20m`` folder (GroupLens CSV layout)."""
    root = Path(root)
    ids = {"userId": "user_id", "movieId": "item_id"}
    movies = _read_csv(root / "movies.csv", ids, {"movieId": "int64", "title": str, "genres": str})
    ratings = _read_csv(root / "ratings.csv", ids, {"userId": "int64", "movieId": "int64", "rating": "float64",
                                                     "timestamp": "int64"})
    fields = _movie_fields(movies.frame.astype({"item_id": str}))
    tags_path = root / "tags.csv"
    tags = _read_csv(tags_path, ids, {"userId": "int64", "movieId": "int64", "tag": str}) if tags_path.is_file() else None
    top = _top_tags(tags.frame) if tags is not None and not tags.frame.empty else {}
    fields["tags"] = [top.get(i, "") for i in fields["item_id"]]
    return build_tables(
        name="ml-20m", root=root,
        items=RawFrame(fields, movies.file, movies.first_line),
        interactions=ratings, users=None,
        text_fields=text_fields, image_column=None, duplicates=duplicates,
    )
