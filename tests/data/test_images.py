"""Image fetching for URL-named images: parallel, cached once, failures masked (a local fake fetcher; no network)."""

import io
import json
import threading

from PIL import Image

from mmrec.data.images import INDEX, fetch_images


def _png(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (5, 5), colour).save(buf, "PNG")
    return buf.getvalue()


def test_fetches_in_parallel(tmp_path):
    """Four fetches that each wait for the other three: only a pool of >= 4 threads gets past the barrier."""
    barrier = threading.Barrier(4, timeout=10)

    def fetcher(url):
        barrier.wait()
        return _png((10, 20, 30))

    urls = [f"https://img.example/{i}.png" for i in range(4)]
    names = fetch_images(urls, tmp_path / "cache", fetcher, workers=4)
    assert all(names) and len(set(names)) == 4
    assert all((tmp_path / "cache" / n).read_bytes() == _png((10, 20, 30)) for n in names)


def test_fetched_once_and_failures_masked(tmp_path):
    calls = []

    def fetcher(url):
        calls.append(url)
        if "dead" in url:
            raise OSError("HTTP Error 404")
        if "html" in url:
            return b"<html>not an image</html>"
        return _png((0, 0, 255))

    urls = ["https://a/ok.png", "https://a/dead.jpg", None, "", "https://a/html.jpg", "https://a/ok.png"]
    names = fetch_images(urls, tmp_path, fetcher, workers=2)
    assert names[0] and names[5] == names[0] and names[0].endswith(".png")
    assert names[1:5] == [None, None, None, None]
    assert sorted(calls) == ["https://a/dead.jpg", "https://a/html.jpg", "https://a/ok.png"]  # duplicates once
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())  # only finished files

    def must_not_fetch(url):
        raise AssertionError(f"fetched again: {url}")

    assert fetch_images(urls, tmp_path, must_not_fetch) == names  # a re-run is a pure cache hit, failures included
    index = json.loads((tmp_path / INDEX).read_text())
    assert index["https://a/dead.jpg"] is None and index["https://a/ok.png"] == names[0]

    (tmp_path / names[0]).unlink()  # a cached file that disappeared is fetched again
    calls.clear()
    assert fetch_images(["https://a/ok.png"], tmp_path, fetcher) == [names[0]] and calls == ["https://a/ok.png"]


def test_files_of_a_killed_run_are_reused(tmp_path):
    """A run killed before writing index.json leaves finished files: the next run uses them without fetching."""
    names = fetch_images(["https://a/1.png", "https://a/2.png"], tmp_path, lambda url: _png((1, 2, 3)))
    (tmp_path / INDEX).unlink()

    def must_not_fetch(url):
        raise AssertionError(f"fetched again: {url}")

    assert fetch_images(["https://a/2.png", "https://a/1.png"], tmp_path, must_not_fetch) == names[::-1]
