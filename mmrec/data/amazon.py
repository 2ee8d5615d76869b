"""Amazon Reviews in their upstream layouts: the 2018 release (Ni et al.) and the 2023 release (Hou et al.).

2018 (https://nijianmo.github.io/amazon/): ``<Category>_5.json.gz`` (5-core reviews, one JSON object a line:
``reviewerID``, ``asin``, ``overall``, ``unixReviewTime`` in seconds, ...) and ``meta_<Category>.json.gz``
(``asin``, ``title``, ``brand``, ``category``, ``feature``, ``description``, ``imageURL`` / ``imageURLHighRes``).
2023 (https://amazon-reviews-2023.github.io/): ``<Category>.jsonl.gz`` (``user_id``, ``parent_asin``,
``rating``, ``timestamp`` in milliseconds, ...) and ``meta_<Category>.jsonl.gz`` (``parent_asin``, ``title``,
``store``, ``categories``, ``features``, ``description``, ``images``: [{thumb, large, hi_res, variant}]).
Items are the reviewed products (``parent_asin`` in 2023, as its benchmark does); a product without
metadata keeps an empty text. Item fields, the same names in both releases: title, brand (2023: store),
categories, features, description. Image: the first product image, fetched once into ``<folder>-images/``
beside the dataset folder (see :mod:`mmrec.data.images`); a failed fetch is a missing image.
"""

from __future__ import annotations

import dataclasses
import gzip
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from mmrec.data.build import RawFrame, build_tables
from mmrec.data.errors import DataError
from mmrec.data.images import Fetcher, fetch_images, http_fetch
from mmrec.data.tables import Tables
from mmrec.data.timestamps import to_seconds

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
ITEM_FIELDS = ("title", "brand", "categories", "features", "description")


@dataclasses.dataclass(frozen=True)
class Release:
    """Where one release keeps each piece of information."""

    reviews_glob: str
    meta_prefix: str
    review_keys: dict[str, str]  # internal column -> JSON key
    meta_id: str
    meta_keys: dict[str, str]  # item field -> JSON key
    image_keys: tuple[str, ...]
    timestamp_per_second: int  # timestamp units per second


RELEASES = {
    "2018": Release(
        reviews_glob="*_5.json*", meta_prefix="meta_",
        review_keys={"user_id": "reviewerID", "item_id": "asin", "timestamp": "unixReviewTime", "rating": "overall"},
        meta_id="asin",
        meta_keys={"title": "title", "brand": "brand", "categories": "category", "features": "feature",
                   "description": "description"},
        image_keys=("imageURLHighRes", "imageURL"), timestamp_per_second=1),
    "2023": Release(
        reviews_glob="*.jsonl*", meta_prefix="meta_",
        review_keys={"user_id": "user_id", "item_id": "parent_asin", "timestamp": "timestamp", "rating": "rating"},
        meta_id="parent_asin",
        meta_keys={"title": "title", "brand": "store", "categories": "categories", "features": "features",
                   "description": "description"},
        image_keys=("images",), timestamp_per_second=1000),
}


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_jsonl(path: Path) -> Iterator[dict]:
    """One JSON object per line (gzip or plain); a bad or blank line stops with its line number."""
    try:
        with _open(path) as fh:
            for line_no, line in enumerate(fh, start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"not a JSON object ({exc.msg})", row=line_no) from None
                if not isinstance(record, dict):
                    raise DataError(path, "not a JSON object", row=line_no)
                yield record
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc})") from None


def find_files(root: Path, release: str) -> tuple[Path, Path]:
    """(reviews, metadata) files of one category in ``root``."""
    spec = RELEASES[release]
    reviews = sorted(p for p in root.glob(spec.reviews_glob) if not p.name.startswith(spec.meta_prefix))
    if len(reviews) != 1:
        raise DataError(root, f"expected one Amazon {release} reviews file ({spec.reviews_glob}), found "
                              f"{[p.name for p in reviews] or 'none'}")
    stem = reviews[0].name.split(".")[0].removesuffix("_5")
    meta = sorted(root.glob(f"{spec.meta_prefix}{stem}.json*"))
    if not meta:
        raise DataError(root / f"{spec.meta_prefix}{stem}{''.join(reviews[0].suffixes)}", "metadata file missing")
    return reviews[0], meta[0]


def _clean(value) -> str:
    if isinstance(value, list):
        value = ", ".join(_clean(v) for v in value if _clean(v))
    text = html.unescape(_TAG.sub(" ", str(value or "")))
    return _SPACE.sub(" ", text).strip()


def _image_url(record: dict, keys: tuple[str, ...]) -> str:
    for key in keys:
        for entry in record.get(key) or []:
            url = (entry.get("large") or entry.get("hi_res")) if isinstance(entry, dict) else entry
            if isinstance(url, str) and url.startswith(("http://", "https://", "file://")):
                return url
    return ""


def _interactions(path: Path, spec: Release) -> RawFrame:
    columns: dict[str, list] = {name: [] for name in spec.review_keys}
    for line_no, record in enumerate(read_jsonl(path), start=1):
        for name, key in spec.review_keys.items():
            if key not in record:
                raise DataError(path, "missing key", row=line_no, column=key)
            columns[name].append(record[key])
    if not columns["user_id"]:
        raise DataError(path, "file has no rows")
    frame = pd.DataFrame(columns)
    if spec.timestamp_per_second != 1:
        frame["timestamp"] = to_seconds(frame["timestamp"], path, 1, spec.review_keys["timestamp"]
                                        ) // spec.timestamp_per_second
    return RawFrame(frame, path, first_line=1)


def load_amazon(root: str | Path, release: str, text_fields: list[str], with_images: bool,
                duplicates: str = "drop", fetcher: Fetcher = http_fetch, workers: int = 16) -> Tables:
    """Load one category folder of ``release`` ("2018" or "2023") into :class:`Tables`."""
    root = Path(root)
    spec = RELEASES[release]
    reviews_path, meta_path = find_files(root, release)
    interactions = _interactions(reviews_path, spec)
    reviewed = pd.unique(interactions.frame["item_id"].astype(str))
    wanted = set(reviewed)
    meta: dict[str, dict] = {}
    for line_no, record in enumerate(read_jsonl(meta_path), start=1):
        item = record.get(spec.meta_id)
        if item is None:
            raise DataError(meta_path, "missing key", row=line_no, column=spec.meta_id)
        if str(item) in wanted:
            meta.setdefault(str(item), record)  # 2018 metadata repeats some products: the first one wins
    records = [meta.get(item, {}) for item in reviewed]
    fields = {"item_id": list(reviewed)}
    for field, key in spec.meta_keys.items():
        fields[field] = [_clean(r.get(key)) for r in records]
    if with_images:
        folder_name = f"{root.name}-images"
        names = fetch_images([_image_url(r, spec.image_keys) for r in records], root.parent / folder_name,
                             fetcher, workers)
        fields["image"] = [f"{folder_name}/{n}" if n else "" for n in names]
    return build_tables(
        name=root.name, root=root.parent,
        items=RawFrame(pd.DataFrame(fields), meta_path, first_line=1),
        interactions=interactions, users=None,
        text_fields=text_fields, image_column="image" if with_images else None, duplicates=duplicates,
    )
