"""MovieLens-100K in its GroupLens layout, plus the optional IMDb texts and posters.

``ml-100k/`` holds ``u.data`` (tab: user, item, rating, timestamp), ``u.item`` (pipe, latin-1: id, title,
release date, video date, URL, 19 genre flags) and ``u.user`` (pipe: id, age, gender, occupation, zip).
``ml-100k-extras/`` (beside it) adds ``imdb.jsonl`` (plot, director, writer, cast, ...) and
``posters/<item_id>.jpg``. Item fields available to ``text_fields``: title, year, genres, release_date,
description, director, writer, cast, age_rating.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mmrec.data.build import RawFrame, build_tables
from mmrec.data.errors import DataError
from mmrec.data.tables import Tables

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
ITEM_COLUMNS = ["item_id", "title", "release_date", "video_release_date", "url", *GENRES]
MAX_CAST = 5  # leading actors kept in the item text


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


def load_movielens_100k(root: str | Path, text_fields: list[str], with_images: bool = True) -> Tables:
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
    )
