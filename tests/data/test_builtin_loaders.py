"""Built-in loaders on small samples written in each upstream's exact layout (tests/data/samples; never downloaded)."""

import gzip
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmrec.data.config import DataConfig
from mmrec.recipe import RecipeConfig
from mmrec.data import DataError, detect_format, load_tables
from mmrec.data.amazon import load_amazon
from mmrec.data.criteo import CATEGORICAL, NUMERIC, load_criteo
from mmrec.pipeline import Pipeline
from mmrec.stages import default_stages

SAMPLES = Path(__file__).parent / "samples"


def _interaction_rows(tables):
    inter = tables.interactions.with_format("numpy")[:]
    users, items = tables.users["user_id"], tables.items["item_id"]
    return [(users[u - 1], items[i - 1], float(r), int(t))
            for u, i, r, t in zip(inter["user_idx"], inter["item_idx"], inter["rating"], inter["timestamp"])]


def _copy(name, tmp_path, gzip_files=False):
    target = tmp_path / name
    target.mkdir()
    for path in (SAMPLES / name).iterdir():
        if gzip_files:  # the Amazon releases ship gzip files; the committed samples are their plain text
            (target / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
        else:
            shutil.copy(path, target / path.name)
    return target


def test_ml1m_sample():
    root = SAMPLES / "ml-1m"
    assert detect_format(root) == "movielens-1m"
    tables = load_tables(DataConfig(dataset=str(root), text_fields=["title", "genres"], image_field=None))
    assert (tables.n_users, tables.n_items, len(tables.interactions)) == (6, 12, 42)
    assert _interaction_rows(tables)[0] == ("1", "593", 3.0, 978301049)  # ratings.dat line 1: 1::593::3::978301049
    titles = dict(zip(tables.items["item_id"], tables.items["title"]))
    assert titles["73"] == "Misérables, Les (1995)"  # latin-1 decoded
    assert tables.items[0]["text"] == "Title: Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert tables.items[0]["year"] == "1995"
    users = {row["user_id"]: row for row in tables.users}
    assert users["4"]["zip_code"] == "02460" and users["2"]["age"] == "56" and users["1"]["gender"] == "F"


def test_ml1m_short_line_is_named(tmp_path):
    root = _copy("ml-1m", tmp_path)
    lines = (root / "ratings.dat").read_text(encoding="latin-1").splitlines()
    lines[6] = "2::1193::5"
    (root / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"ratings.dat, line 7: expected 4 fields separated by '::', found 3"):
        load_tables(DataConfig(dataset=str(root), text_fields=["title"], image_field=None))


def test_ml20m_sample():
    root = SAMPLES / "ml-20m"
    assert detect_format(root) == "movielens-20m"
    tables = load_tables(DataConfig(dataset=str(root), text_fields=["title", "genres", "tags"], image_field=None))
    assert (tables.n_users, tables.n_items, len(tables.interactions)) == (6, 10, 36)
    first = (SAMPLES / "ml-20m" / "ratings.csv").read_text().splitlines()[1].split(",")
    assert _interaction_rows(tables)[0] == (first[0], first[1], float(first[2]), int(first[3]))
    items = {row["item_id"]: row for row in tables.items}
    assert items["11"]["title"] == "American President, The (1995)"  # quoted comma
    assert items["50"]["title"] == '"Usual Suspects, The" (1995)'  # doubled quotes
    assert items["131262"]["genres"] == "" and items["131262"]["year"] == "2014"  # "(no genres listed)"
    assert items["1"]["tags"] == "pixar, animation"  # 3x pixar (case folded) before 1x animation
    assert items["32"]["tags"] == "time travel, bruce willis"
    assert items["2"]["tags"] == "" and items["1"]["text"].endswith("Tags: pixar, animation")
    assert tables.users.column_names == ["user_idx", "user_id"]


def test_ml20m_bad_timestamp_is_named(tmp_path):
    root = _copy("ml-20m", tmp_path)
    lines = (root / "ratings.csv").read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",soon"
    (root / "ratings.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"ratings.csv, line 6, column 'timestamp': not a number: 'soon'"):
        load_tables(DataConfig(dataset=str(root), text_fields=["title"], image_field=None))


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 6), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


class FakeFetcher:
    """Serves a real JPEG for every URL except those containing ``broken`` / ``unreachable``."""

    def __init__(self):
        self.urls = []

    def __call__(self, url):
        self.urls.append(url)
        if "broken" in url or "unreachable" in url:
            raise OSError("HTTP Error 404: Not Found")
        return _jpeg()


def test_amazon_2018_sample(tmp_path):
    root = _copy("amazon-2018", tmp_path, gzip_files=True)
    assert detect_format(root) == "amazon-2018"
    fetcher = FakeFetcher()
    tables = load_amazon(root, "2018", ["title", "brand", "description"], with_images=True, fetcher=fetcher)
    assert (tables.n_users, tables.n_items) == (6, 7)
    assert len(tables.interactions) == 30 and tables.stats()["duplicate_events"] == 1  # one verbatim repeat
    items = {row["item_id"]: row for row in tables.items}
    assert items["B0000530HU"]["title"] == "Loud 'N Clear™ Personal Sound Amplifier"  # HTML entity decoded
    assert items["B0000530HU"]["description"] == "Amplifies sound up to 50 dB."  # tags stripped
    assert items["B000FI4S1E"]["title"] == "Crabtree & Evelyn Hand Therapy"
    assert items["B0009RF9DW"]["title"].startswith("Bonne Bell")  # repeated metadata row: first wins
    assert not items["B0012Y0ZG2"]["has_text"]  # reviewed but without metadata
    assert "B07NOTREVD" not in items  # metadata of a product nobody reviewed
    # high-res image preferred, low-res used when it is the only one, a failed fetch is a missing image
    assert "https://images-na.ssl-images-amazon.com/images/I/41-0000530HU.jpg" in fetcher.urls
    assert {k for k, row in items.items() if row["has_image"]} == {"B0000530HU", "B00006L9LC", "B000FI4S1E"}
    assert all(Path(p).is_file() for p in tables.image_paths() if p)
    assert tables.stats()["items_missing_image"] == 4


def test_amazon_2023_sample(tmp_path):
    root = _copy("amazon-2023", tmp_path, gzip_files=True)
    assert detect_format(root) == "amazon-2023"
    tables = load_tables(DataConfig(dataset=str(root), text_fields=["title", "brand", "features"], image_field=None))
    assert (tables.n_users, tables.n_items, len(tables.interactions)) == (5, 6, 20)
    first = (SAMPLES / "amazon-2023" / "All_Beauty.jsonl").read_text().splitlines()[0]
    assert '"timestamp": 1588959953031' in first and '"parent_asin": "B07PNNCSP9"' in first
    assert _interaction_rows(tables)[0] == ("AGKHLEW2SOWHNMFQIJGBECAF7INQ", "B07PNNCSP9", 3.0, 1588959953)  # ms -> s
    assert not any(i.endswith("X") for i in tables.items["item_id"])  # items are parent_asin, not variant asin
    items = {row["item_id"]: row for row in tables.items}
    assert items["B081TJ8YS3"]["text"] == "Title: All Natural Vegan Dry Shampoo Powder. Brand: Rubz. Features: Vegan, Talc free"
    assert not any(tables.items["has_image"])

    with_images = load_amazon(root, "2023", ["title"], with_images=True, fetcher=FakeFetcher())
    has = {row["item_id"]: row["has_image"] for row in with_images.items}
    assert has == {"B00YQ6X8EO": True, "B081TJ8YS3": True, "B07PNNCSP9": False, "B01CUPMQZE": False,
                   "B08BBQ29N5": True, "B097R46CSY": False}  # no images listed / unreachable -> masked


def test_amazon_bad_json_line_is_named(tmp_path):
    root = _copy("amazon-2018", tmp_path)
    lines = (root / "All_Beauty_5.json").read_text().splitlines()
    lines[3] = lines[3][:40]
    (root / "All_Beauty_5.json").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"All_Beauty_5.json, line 4: not a JSON object"):
        load_amazon(root, "2018", ["title"], with_images=False)
    lines[3] = '{"asin": "B0000530HU", "overall": 5.0, "unixReviewTime": 1}'
    (root / "All_Beauty_5.json").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"All_Beauty_5.json, line 4, column 'reviewerID': missing key"):
        load_amazon(root, "2018", ["title"], with_images=False)


def test_amazon_keep_duplicates(tmp_path):
    root = _copy("amazon-2018", tmp_path, gzip_files=True)
    cfg = DataConfig(dataset=str(root), text_fields=["title"], image_field=None, duplicates="keep")
    tables = load_tables(cfg)
    assert len(tables.interactions) == 31 and tables.stats()["duplicate_events"] == 1


def test_criteo_sample():
    table = load_criteo(SAMPLES / "criteo")
    frame = table.frame
    assert len(frame) == 30 and list(frame.columns) == ["label", *NUMERIC, *CATEGORICAL]
    assert [(f.name, f.kind) for f in table.fields] == [(c, "numeric") for c in NUMERIC] + [(c, "categorical")
                                                                                           for c in CATEGORICAL]
    first = (SAMPLES / "criteo" / "train.txt").read_text().splitlines()[0].split("\t")
    row = frame.iloc[0]
    assert row["label"] == 0 and row["I1"] == 1.0 and row["I5"] == 1382.0 and np.isnan(row["I12"])
    assert row["C1"] == "68fd1e64" and row["C26"] == "9727dd16" and row["C22"] is pd.NA
    assert [frame.iloc[0][c] for c in CATEGORICAL if first[14 + CATEGORICAL.index(c)]] == [v for v in first[14:] if v]
    assert (frame[NUMERIC] == 23159456).any().any()  # > 2**24: kept exact
    assert set(frame["label"]) <= {0, 1} and frame["label"].dtype == np.int8
    assert len(load_criteo(SAMPLES / "criteo" / "train.txt", max_rows=10, chunk_rows=4).frame) == 10


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.__setitem__(0, "2"), "line 8, column 'label': label must be 0 or 1, got '2'"),
    (lambda f: f.__setitem__(3, "12abc"), "line 8, column 'I3': not an integer: '12abc'"),
    (lambda f: f.__setitem__(3, "1.5"), "line 8, column 'I3': not an integer: '1.5'"),
    (lambda f: f.pop(), "line 8: expected 40 fields separated by '\\t', found 39"),
])
def test_criteo_bad_line_is_named(tmp_path, edit, message):
    lines = (SAMPLES / "criteo" / "train.txt").read_text().splitlines()
    fields = lines[7].split("\t")
    edit(fields)
    lines[7] = "\t".join(fields)
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_criteo(tmp_path, chunk_rows=5)  # the bad line sits in the second chunk: line numbers carry over
    assert message in str(info.value)


def test_criteo_is_not_sequential_tables():
    with pytest.raises(DataError, match="criteo is a CTR log"):
        load_tables(DataConfig(dataset=str(SAMPLES / "criteo")))


def _remove(name):
    return lambda root: (root / name).unlink()


def _empty(name):
    return lambda root: (root / name).write_bytes(b"")


LAYOUT_CASES = {
    "ml-1m without users.dat": ("ml-1m", _remove("users.dat"), "users.dat: file not found"),
    "ml-1m empty ratings.dat": ("ml-1m", _empty("ratings.dat"), "ratings.dat: file is empty"),
    "ml-1m unknown movie": ("ml-1m", lambda r: (r / "ratings.dat").write_text("1::99999::5::978300760\n"),
                            "ratings.dat, line 1, column 'item_id': item '99999' is not in movies.dat"),
    "ml-1m truncated movies line": ("ml-1m", lambda r: (r / "movies.dat").write_bytes(b"1::Toy Story (1995)::Comedy\n2::Jum"),
                                     "movies.dat, line 2: expected 3 fields"),
    "ml-20m without movies.csv": ("ml-20m", _remove("movies.csv"), "movies.csv: file not found"),
    "ml-20m unknown user column": ("ml-20m", lambda r: (r / "ratings.csv").write_text("user,movieId,rating,timestamp\n1,1,4,5\n"),
                                   "ratings.csv, column 'user_id': missing required column"),
    "amazon without metadata": ("amazon-2018", _remove("meta_All_Beauty.json"), "meta_All_Beauty.json: metadata file missing"),
    "amazon empty reviews": ("amazon-2018", _empty("All_Beauty_5.json"), "All_Beauty_5.json: file has no rows"),
    "amazon metadata without asin": ("amazon-2018", lambda r: (r / "meta_All_Beauty.json").write_text('{"title": "x"}\n'),
                                     "meta_All_Beauty.json, line 1, column 'asin': missing key"),
    "amazon 2023 bad timestamp": ("amazon-2023", lambda r: (r / "All_Beauty.jsonl").write_text(
        '{"user_id": "U", "parent_asin": "B00YQ6X8EO", "rating": 5.0, "timestamp": "soon"}\n'),
        "All_Beauty.jsonl, line 1, column 'timestamp': not a timestamp: 'soon'"),
}


@pytest.mark.parametrize("case", list(LAYOUT_CASES))
def test_layout_bad_input_matrix(tmp_path, case):
    """Each upstream layout's bad input is one DataError naming the file (and line / column where one applies),
    and the prepare stage leaves no artifact behind."""
    name, breaker, message = LAYOUT_CASES[case]
    root = _copy(name, tmp_path)
    breaker(root)
    cfg = RecipeConfig(data=DataConfig(dataset=str(root), text_fields=["title"], image_field=None))
    with pytest.raises(DataError) as info:
        Pipeline(cfg, tmp_path / "run", default_stages()).run(["prepare"])
    assert message in str(info.value)
    artifacts = tmp_path / "run" / "artifacts"
    assert not artifacts.exists() or list(artifacts.rglob("*")) == []


def test_criteo_empty_and_missing(tmp_path):
    with pytest.raises(DataError, match="train.txt: file not found"):
        load_criteo(tmp_path)
    (tmp_path / "train.txt").write_text("")
    with pytest.raises(DataError, match="train.txt: file is empty"):
        load_criteo(tmp_path)
