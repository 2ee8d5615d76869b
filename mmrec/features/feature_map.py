"""The fitted feature map: every field's kind, vocabulary, normaliser statistics and shapes; JSON round trip; encoding.

Fitting reads the training split only, chunk by chunk (:meth:`FeatureMap.fit`); encoding turns a DataFrame or a
list of dicts into tensors (:meth:`FeatureMap.encode`). Declarations resolve into *entries*: a context field
becomes ``<name>.hour`` / ``<name>.weekday`` (categorical) and ``<name>.recency`` (numeric); a sequence keeps its
sub-fields as ``<name>.<sub>`` tensors of shape (N, max_len), oldest first, left-padded with 0.

Encoded categorical values are local indices: 0 = padding / missing, 1 = out-of-vocabulary, 2.. = the vocabulary.
Numeric values are normalised float32, NaN where missing. Labels are float32 0/1 under their own names.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mmrec.core.io import write_json
from mmrec.features import schema
from mmrec.features.errors import FeatureError, where
from mmrec.features.values import flat_lists, labels01, numbers, token_codes

FORMAT_VERSION = 1
PAD, OOV = 0, 1
FIXED_VOCABS = {"hour": [str(h) for h in range(24)], "weekday": [str(d) for d in range(7)]}
Chunk = tuple[pd.DataFrame, str, int]  # (rows, source file, offset of the first row in that file)


@dataclasses.dataclass
class Entry:
    """One fitted field. ``kind``: categorical / multi_categorical / numeric / sequence / embedding / label."""

    name: str
    kind: str
    source: str
    role: str = ""                 # "domain", "context" or ""
    vocab: list[str] = dataclasses.field(default_factory=list)
    min_count: int = 1
    normaliser: str = ""
    stats: dict[str, float] = dataclasses.field(default_factory=dict)
    pooling: str = ""
    sep: str = "|"
    max_len: int = 0
    derive: str = ""               # context part: hour / weekday / recency
    reference: str = ""            # recency: the reference timestamp column
    dim: int = 0                   # embedding: the pretrained vector size
    vocabulary_of: str = ""        # sequence sub-field: shares this flat field's vocabulary (and table)
    encoding: str = ""             # numeric: "" / scalar, bucket or mnse (schema.Numeric)
    buckets: int = 0
    levels: int = 0
    bases: list[int] = dataclasses.field(default_factory=list)
    fields: list[Entry] = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        """Rows of this entry's table: padding + out-of-vocabulary + the vocabulary (embedding: + missing)."""
        return len(self.vocab) + (1 if self.kind == "embedding" else 2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(**{**data, "fields": [cls.from_dict(f) for f in data.get("fields", [])]})


def _entries(field: schema.Field) -> list[Entry]:
    base = {"name": field.name, "source": field.source}
    if isinstance(field, schema.Context):
        return [Entry(f"{field.name}.{part}", "numeric" if part == "recency" else "categorical", field.source,
                      role="context", derive=part, reference=field.reference,
                      normaliser="standard" if part == "recency" else "",
                      vocab=list(FIXED_VOCABS.get(part, []))) for part in field.parts]
    if isinstance(field, schema.Sequence):
        subs = [_entries(s)[0] for s in field.fields]
        for sub in subs:
            sub.name, sub.role = f"{field.name}.{sub.name}", "sequence"
            sub.max_len, sub.sep = field.max_len, field.sep
            sub.vocabulary_of = field.vocabulary_of.get(sub.name.split(".", 1)[1], "")
        return [Entry(**base, kind="sequence", max_len=field.max_len, sep=field.sep, fields=subs)]
    if isinstance(field, schema.MultiCategorical):
        return [Entry(**base, kind="multi_categorical", min_count=field.min_count, sep=field.sep,
                      max_len=field.max_len, pooling=field.pooling)]
    if isinstance(field, schema.Categorical):
        return [Entry(**base, kind="categorical", min_count=field.min_count,
                      role="domain" if isinstance(field, schema.Domain) else "")]
    if isinstance(field, schema.Numeric):
        return [Entry(**base, kind="numeric", normaliser=field.normaliser, encoding=field.encoding,
                      buckets=field.buckets, levels=field.levels, bases=list(field.bases))]
    if isinstance(field, schema.Embedding):
        return [Entry(**base, kind="embedding")]
    return [Entry(**base, kind="label")]


class _Fitter:
    """Streaming statistics of one entry over the training chunks."""

    def __init__(self, entry: Entry):
        self.entry, self.counts, self.moments = entry, Counter(), np.zeros(3)
        self.low, self.high = np.inf, -np.inf

    def update(self, frame: pd.DataFrame, source: str, offset: int) -> None:
        e = self.entry
        if e.role == "sequence":  # one list per event: fit on the flattened values
            frame, offset = pd.DataFrame({e.source: flat_lists(frame[e.source], e.sep)[0]}), 0
            source = f"{source} (flattened sequence values)"
        if e.kind in ("categorical", "multi_categorical") and not e.derive:
            distinct, inverse = token_codes(frame[e.source] if e.kind == "categorical"
                                            else flat_lists(frame[e.source], e.sep)[0])
            for token, count in zip(distinct, np.bincount(inverse, minlength=len(distinct))):
                if token is not None and count:
                    self.counts[token] += int(count)
        elif e.kind == "numeric":
            x = _numeric(e, frame, source, offset, normalise=False)
            x = x[~np.isnan(x)]
            self.moments += (len(x), x.sum(), (x * x).sum())
            if len(x):
                self.low, self.high = min(self.low, x.min()), max(self.high, x.max())
        elif e.kind == "label":
            labels01(frame[e.source], source, e.name, offset)

    def finish(self) -> None:
        e = self.entry
        if self.counts:
            kept = [(t, c) for t, c in self.counts.items() if c >= e.min_count]
            e.vocab = [t for t, _ in sorted(kept, key=lambda tc: (-tc[1], tc[0]))]
        if e.kind == "numeric":
            n, total, squares = self.moments
            mean = total / n if n else 0.0
            std = float(np.sqrt(max(squares / n - mean * mean, 0.0))) if n else 1.0
            e.stats = {"count": float(n), "mean": float(mean), "std": std or 1.0,
                       "min": float(self.low) if n else 0.0, "max": float(self.high) if n else 1.0}


def _numeric(e: Entry, frame: pd.DataFrame, source: str, offset: int, normalise: bool = True) -> np.ndarray:
    """An entry's numbers (recency derived, log applied) and, with ``normalise``, the fitted normaliser."""
    x = numbers(frame[e.source], source, e.name, offset)
    if e.derive == "recency":
        ref = numbers(frame[e.reference], source, e.name, offset)
        x = np.log1p(np.maximum(x - ref, 0.0) / 3600.0)
    elif e.normaliser == "log":
        x = np.log1p(np.maximum(x, 0.0))
    if not normalise:
        return x
    s = e.stats
    if e.normaliser == "minmax":
        return (x - s["min"]) / ((s["max"] - s["min"]) or 1.0)
    return (x - s["mean"]) / s["std"]


def _lookup(vocab_index: pd.Index, column: pd.Series) -> np.ndarray:
    """Local indices of a column's tokens: vocabulary position + 2, OOV 1, missing 0 (looked up once per distinct)."""
    distinct, inverse = token_codes(column)
    found = vocab_index.get_indexer(pd.Index(distinct, dtype=object))
    out = np.where(found >= 0, found + 2, OOV)
    out[pd.isna(distinct)] = PAD
    return out[inverse]


def _positions(lengths: np.ndarray, max_len: int, keep_last: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For values flattened row by row: which are kept (the last / first ``max_len`` of each row), and the kept
    ones' row and column in an (N, max_len) matrix (left-padded when ``keep_last``, else right-padded)."""
    rows_of = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(len(rows_of)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    dropped = np.maximum(lengths - max_len, 0)[rows_of]
    keep = within >= dropped if keep_last else within < max_len
    cols = within - dropped + (max_len - np.minimum(lengths, max_len))[rows_of] if keep_last else within
    return keep, rows_of[keep], cols[keep]


def _padded(flat: pd.Series, lengths: np.ndarray, index: pd.Index, max_len: int, keep_last: bool) -> np.ndarray:
    """Per row, the local indices of its tokens in an (N, max_len) matrix (0 = padding)."""
    out = np.zeros((len(lengths), max_len), dtype=np.int64)
    keep, rows, cols = _positions(lengths, max_len, keep_last)
    out[rows, cols] = _lookup(index, flat[keep])
    return out


@dataclasses.dataclass
class FeatureMap:
    """Field -> kind, vocabulary, normaliser stats, dims; fitted on train, saved with every model."""

    entries: list[Entry]
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        self._index: dict[str, pd.Index] = {}

    # -- description -----------------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return [e.name for e in self.entries if e.kind == "label"]

    @property
    def features(self) -> list[Entry]:
        return [e for e in self.entries if e.kind != "label"]

    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise FeatureError(f"feature map: no field '{name}'; fields: {', '.join(e.name for e in self.entries)}")

    def sizes(self) -> dict[str, int]:
        """Table rows per entry (sequence sub-fields included): what a model's tables must match."""
        out = {}
        for e in self.features:
            for sub in e.fields or [e]:
                if sub.kind in ("categorical", "multi_categorical", "embedding"):
                    out[sub.name] = self.entry(sub.vocabulary_of).size if sub.vocabulary_of else sub.size
        return out

    def check_sizes(self, expected: dict[str, int], source: str) -> None:
        """A saved feature map against a model's tables: one error naming the first field that disagrees (flat
        fields before sequence sub-fields, which may only borrow a flat field's vocabulary)."""
        mine = self.sizes()
        for name in sorted(set(mine) | set(expected), key=lambda n: ("." in n, n)):
            if mine.get(name) != expected.get(name):
                raise FeatureError(f"{source}: vocabulary mismatch on field '{name}': the feature map has "
                                   f"{mine.get(name, 'no')} entries, the model's table {expected.get(name, 'none')}")

    # -- persistence -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "entries": [dataclasses.asdict(e) for e in self.entries]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "feature map") -> FeatureMap:
        if data.get("version", FORMAT_VERSION) > FORMAT_VERSION:
            raise FeatureError(f"{source}: format version {data['version']} is newer than this mmrec reads")
        try:
            return cls([Entry.from_dict(e) for e in data["entries"]], data.get("version", FORMAT_VERSION))
        except (KeyError, TypeError) as exc:
            raise FeatureError(f"{source}: not a feature map written by mmrec ({type(exc).__name__}: {exc})") from None

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> FeatureMap:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FeatureError(f"{path}: not readable JSON ({exc})") from None
        return cls.from_dict(data, str(path))

    # -- fitting ---------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, fields: list[schema.Field], chunks: Iterable[Chunk],
            embeddings: dict[str, tuple[list[Any], int]] | None = None) -> FeatureMap:
        """Fit vocabularies / normalisers on the training chunks (one pass). ``embeddings``: field -> (item IDs
        in table-row order, vector size) of each frozen ``embedding`` field."""
        entries = [e for f in fields for e in _entries(f)]
        fmap = cls(entries)
        fitters = [_Fitter(e) for top in entries for e in (top.fields or [top]) if not e.vocabulary_of]
        rows = 0
        for frame, source, offset in chunks:
            fmap.check_columns(frame, source)
            rows += len(frame)
            for fitter in fitters:
                fitter.update(frame, source, offset)
        if rows == 0:
            raise FeatureError("training split: no rows to fit the feature map on (empty split)")
        for fitter in fitters:
            fitter.finish()
        for e in fmap.features:
            if e.kind == "embedding":
                if not embeddings or e.name not in embeddings:
                    raise FeatureError(f"field '{e.name}': an embedding field needs its table's item IDs and size "
                                       "(fit(..., embeddings={name: (ids, dim)}))")
                ids, e.dim = embeddings[e.name]
                e.vocab = [str(i) for i in ids]
        return fmap

    # -- encoding --------------------------------------------------------------------------------------------
    def check_columns(self, frame: pd.DataFrame, source: str, labels: bool = True) -> None:
        for e in self.entries:
            if e.kind == "label" and not labels:
                continue
            for sub in e.fields or [e]:
                for column in [sub.source] + ([sub.reference] if sub.reference else []):
                    if column not in frame.columns:
                        raise FeatureError(f"{where(source, e.name)}: column '{column}' is missing from the data; "
                                           f"columns: {', '.join(map(str, frame.columns))}")

    def _vocab_index(self, e: Entry) -> pd.Index:
        owner = self.entry(e.vocabulary_of) if e.vocabulary_of else e
        if owner.name not in self._index:
            self._index[owner.name] = pd.Index(owner.vocab, dtype=object)
        return self._index[owner.name]

    def _encode_entry(self, e: Entry, frame: pd.DataFrame, source: str, offset: int) -> np.ndarray:
        if e.kind == "categorical" and e.derive:
            ts = numbers(frame[e.source], source, e.name, offset)
            part = np.floor(ts / 3600) % 24 if e.derive == "hour" else (np.floor(ts / 86400) + 3) % 7
            return np.where(np.isnan(part), PAD, np.nan_to_num(part) + 2).astype(np.int64)
        if e.kind in ("categorical", "embedding"):
            ids = _lookup(self._vocab_index(e), frame[e.source])
            return np.where(ids <= OOV, 0, ids - 1) if e.kind == "embedding" else ids  # embedding row 0 = none
        if e.kind == "multi_categorical":
            return _padded(*flat_lists(frame[e.source], e.sep), self._vocab_index(e), e.max_len, keep_last=False)
        if e.kind == "numeric":
            return _numeric(e, frame, source, offset).astype(np.float32)
        return labels01(frame[e.source], source, e.name, offset)

    def _encode_sequence(self, e: Entry, frame: pd.DataFrame, source: str, offset: int) -> dict[str, np.ndarray]:
        lists = {sub.name: flat_lists(frame[sub.source], e.sep) for sub in e.fields}
        lengths = np.array([n for _, n in lists.values()])
        bad = np.flatnonzero((lengths != lengths[0]).any(axis=0))
        if len(bad):
            raise FeatureError(f"{where(source, e.name, offset + int(bad[0]) + 1)}: its sub-fields hold lists of "
                               f"different lengths {lengths[:, bad[0]].tolist()}")
        out = {}
        for sub in e.fields:
            flat, counts = lists[sub.name]
            if sub.kind == "categorical":
                out[sub.name] = _padded(flat, counts, self._vocab_index(sub), e.max_len, keep_last=True)
                continue
            keep, rows, cols = _positions(counts, e.max_len, keep_last=True)
            tails = pd.DataFrame({sub.source: flat[keep].reset_index(drop=True)})
            values = np.full((len(counts), e.max_len), np.nan, dtype=np.float32)
            values[rows, cols] = _numeric(sub, tails, f"{source} (flattened sequence values)", 0)
            out[sub.name] = values
        return out

    def encode(self, data: pd.DataFrame | list[dict[str, Any]], source: str = "<rows>", offset: int = 0,
               labels: bool = True) -> dict[str, torch.Tensor]:
        """Tensors of one chunk: ``{entry name: (N,) / (N, L)}``; ``labels=False`` encodes rows without targets."""
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame.from_records(list(data))
        self.check_columns(frame, source, labels)
        out: dict[str, np.ndarray] = {}
        for e in self.entries:
            if e.kind == "label" and not labels:
                continue
            if e.kind == "sequence":
                out.update(self._encode_sequence(e, frame, source, offset))
            else:
                out[e.name] = self._encode_entry(e, frame, source, offset)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}

    def encode_chunks(self, chunks: Iterable[Chunk], split: str, labels: bool = True) -> dict[str, torch.Tensor]:
        """Encode every chunk (the second pass) and concatenate; an empty split is an error naming it."""
        parts: list[dict[str, torch.Tensor]] = []
        source = split
        for frame, source, offset in chunks:
            if len(frame):
                parts.append(self.encode(frame, source, offset, labels))
        if not parts:
            raise FeatureError(f"{source}: split '{split}' has no rows")
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def frame_chunks(frame: pd.DataFrame, source: str = "<DataFrame>", rows: int = 100_000) -> Iterator[Chunk]:
    """An in-memory DataFrame as chunks (for fitting / encoding without files)."""
    for start in range(0, len(frame), rows):
        yield frame.iloc[start:start + rows], source, start
