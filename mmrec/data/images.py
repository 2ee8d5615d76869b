"""Item images named by URL (Amazon metadata): fetched once, in parallel, into a cache folder.

Each URL is fetched by a thread pool (image downloads wait on the network, not the CPU), checked to decode
as an image, and written atomically as ``<sha256(url)[:24]><suffix>``. ``index.json`` in the folder records
every URL tried and its file (``null`` where the fetch failed or the bytes are not an image), so a re-run
fetches nothing it has already tried; a failed URL becomes a missing image (the item's image mask is False).
Delete ``index.json`` to retry failures.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from mmrec.core.io import atomic_file, write_json

Fetcher = Callable[[str], bytes]
INDEX = "index.json"


def http_fetch(url: str, timeout: float = 20.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _file_name(url: str) -> str:
    suffix = Path(url.split("?", 1)[0]).suffix.lower()
    suffix = suffix if suffix in (".jpg", ".jpeg", ".png", ".gif", ".webp") else ".jpg"
    return hashlib.sha256(url.encode()).hexdigest()[:24] + suffix


def _fetch_one(url: str, folder: Path, fetcher: Fetcher) -> str | None:
    name = _file_name(url)
    if (folder / name).is_file():  # fetched by a run killed before it wrote the index
        return name
    try:
        blob = fetcher(url)
        with Image.open(io.BytesIO(blob)) as image:
            image.verify()
    except Exception:  # noqa: BLE001 - any failure (network, HTTP status, not an image) is a missing image
        return None
    with atomic_file(folder / name, "wb") as fh:
        fh.write(blob)
    return name


def fetch_images(urls: list[str | None], folder: str | Path, fetcher: Fetcher = http_fetch, workers: int = 16,
                 ) -> list[str | None]:
    """The cached file name (inside ``folder``) for each URL, None where the URL is empty or failed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / INDEX
    index: dict[str, str | None] = json.loads(index_path.read_text()) if index_path.is_file() else {}
    index = {u: n for u, n in index.items() if n is None or (folder / n).is_file()}  # a deleted file is refetched
    todo = sorted({u for u in urls if u and u not in index})
    if todo:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            names = list(tqdm(pool.map(lambda u: _fetch_one(u, folder, fetcher), todo), total=len(todo),
                              desc="fetch images", unit="img", disable=None))
        index.update(zip(todo, names))
        write_json(index_path, index)
    return [index.get(u) if u else None for u in urls]
