"""Typed field declarations: one dataclass per field kind, as a recipe's ``features:`` list holds them.

A declaration says *what* a column is (its kind, source column and options); the fitted facts (vocabulary,
normaliser statistics) live in :class:`mmrec.features.feature_map.FeatureMap`. Each YAML entry is a mapping
``{name, type, source?, ...options}``; :func:`parse_fields` turns a list of them into declarations and rejects an
unknown type or option with an error naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, ClassVar

from mmrec.features.errors import FeatureError

NORMALISERS = ("standard", "minmax", "log")
POOLINGS = ("sum", "mean")
CONTEXT_PARTS = ("hour", "weekday", "recency")
ENCODINGS = ("scalar", "bucket", "mnse")


@dataclasses.dataclass
class Field:
    """Common to every declaration: the field's name and the data column it reads (default: its name)."""

    name: str
    source: str = ""
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.source = self.source or self.name

    def columns(self) -> list[str]:
        """The data columns this field reads."""
        return [self.source]


@dataclasses.dataclass
class Categorical(Field):
    """One token per event; vocabulary fitted on train (0 = padding / missing, 1 = out-of-vocabulary)."""

    min_count: int = 1
    kind: ClassVar[str] = "categorical"


@dataclasses.dataclass
class Domain(Categorical):
    """A categorical field naming the scenario / domain of an event (multi-domain models route on it)."""

    kind: ClassVar[str] = "domain"


@dataclasses.dataclass
class MultiCategorical(Field):
    """A set of tokens per event (e.g. genres), given as a list or a ``sep``-joined string; pooled, masked."""

    min_count: int = 1
    sep: str = "|"
    max_len: int = 16
    pooling: str = "mean"
    kind: ClassVar[str] = "multi_categorical"


@dataclasses.dataclass
class Numeric(Field):
    """A number; normaliser fitted on train; a missing value gets a learned "missing" embedding.

    ``encoding``: ``scalar`` (value × a learned vector), ``bucket`` (``buckets`` equal-width bins of the train
    range, one embedding each) or ``mnse`` (the value as an integer in [0, ``levels``) written in each of
    ``bases``; see :mod:`mmrec.features.numeric_encoding`). Sequence sub-fields are always scalar.
    """

    normaliser: str = "standard"
    encoding: str = "scalar"
    buckets: int = 10
    levels: int = 1000
    bases: list[int] = dataclasses.field(default_factory=lambda: [2, 3, 5])
    kind: ClassVar[str] = "numeric"


@dataclasses.dataclass
class Sequence(Field):
    """The user's previous events, each with its own sub-fields (item, category, time, action).

    ``fields`` are declarations whose ``source`` columns hold one list (or ``sep``-joined string) per event,
    oldest first; a categorical sub-field may borrow a flat field's vocabulary with ``vocabulary_of``.
    """

    fields: list[Any] = dataclasses.field(default_factory=list)
    max_len: int = 50
    sep: str = "|"
    vocabulary_of: dict[str, str] = dataclasses.field(default_factory=dict)
    kind: ClassVar[str] = "sequence"

    def columns(self) -> list[str]:
        return [f.source for f in self.fields]


@dataclasses.dataclass
class Embedding(Field):
    """A frozen pretrained vector per item: ``source`` holds the item ID, the caller passes the table."""

    kind: ClassVar[str] = "embedding"


@dataclasses.dataclass
class Context(Field):
    """Hour of day, weekday and recency derived from a Unix timestamp (seconds) column.

    Recency = log1p(hours between ``reference`` and the event), when a ``reference`` column is given.
    """

    parts: list[str] = dataclasses.field(default_factory=lambda: ["hour", "weekday"])
    reference: str = ""
    kind: ClassVar[str] = "context"

    def columns(self) -> list[str]:
        return [self.source] + ([self.reference] if self.reference else [])


@dataclasses.dataclass
class Label(Field):
    """A 0/1 target (click, conversion, ...)."""

    kind: ClassVar[str] = "label"


FIELD_TYPES: dict[str, type[Field]] = {cls.kind: cls for cls in (Categorical, Domain, MultiCategorical, Numeric,
                                                                  Sequence, Embedding, Context, Label)}
SEQUENCE_SUBTYPES = ("categorical", "numeric")


def _check(field: Field, where: str) -> None:
    options = {"normaliser": NORMALISERS, "pooling": POOLINGS, "encoding": ENCODINGS}
    for key, allowed in options.items():
        value = getattr(field, key, None)
        if value is not None and value not in allowed:
            raise FeatureError(f"{where}: {key} '{value}' is not one of {', '.join(allowed)}")
    for part in getattr(field, "parts", []):
        if part not in CONTEXT_PARTS:
            raise FeatureError(f"{where}: context part '{part}' is not one of {', '.join(CONTEXT_PARTS)}")
    if "recency" in getattr(field, "parts", []) and not field.reference:
        raise FeatureError(f"{where}: context part 'recency' needs a 'reference' timestamp column")
    for key in ("min_count", "max_len"):
        if getattr(field, key, 1) < 1:
            raise FeatureError(f"{where}: {key} must be >= 1")
    if isinstance(field, Numeric):
        if field.buckets < 2 or field.levels < 2:
            raise FeatureError(f"{where}: buckets and levels must be >= 2")
        if not field.bases or any(int(b) != b or b < 2 for b in field.bases):
            raise FeatureError(f"{where}: bases must be a non-empty list of integers >= 2, got {field.bases!r}")


def parse_field(entry: dict[str, Any], where: str = "features") -> Field:
    """One declaration from its YAML mapping; unknown types / options are errors naming ``where`` and the field."""
    if not isinstance(entry, dict) or "name" not in entry or "type" not in entry:
        raise FeatureError(f"{where}: a field is a mapping with at least 'name' and 'type', got {entry!r}")
    name, kind = str(entry["name"]), str(entry["type"])
    where = f"{where} (field '{name}')"
    if kind not in FIELD_TYPES:
        close = difflib.get_close_matches(kind, list(FIELD_TYPES), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(FIELD_TYPES)}"
        raise FeatureError(f"{where}: unknown field type '{kind}'{hint}")
    cls = FIELD_TYPES[kind]
    options = {k: v for k, v in entry.items() if k != "type"}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise FeatureError(f"{where}: unknown option(s) {', '.join(unknown)} for a {kind} field; "
                           f"known: {', '.join(sorted(known))}")
    if cls is Sequence:
        subs = [parse_field(sub, f"{where}.fields[{i}]") for i, sub in enumerate(options.get("fields", []))]
        bad = [s.name for s in subs if s.kind not in SEQUENCE_SUBTYPES
               or getattr(s, "encoding", "scalar") != "scalar"]
        if not subs or bad:
            raise FeatureError(f"{where}: a sequence needs sub-fields of type {' / '.join(SEQUENCE_SUBTYPES)} "
                               "(numeric ones with the scalar encoding)"
                               + (f"; got {', '.join(bad)}" if bad else ""))
        options["fields"] = subs
    field = cls(**options)
    _check(field, where)
    return field


def parse_fields(entries: list[dict[str, Any]], where: str = "features") -> list[Field]:
    """Declarations of a recipe's ``features:`` list; names must be unique and at least one label present."""
    fields = [parse_field(e, f"{where}[{i}]") for i, e in enumerate(entries)]
    names = [f.name for f in fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FeatureError(f"{where}: field name(s) {', '.join(dupes)} declared more than once")
    if not any(isinstance(f, Label) for f in fields):
        raise FeatureError(f"{where}: no field of type 'label'; a CTR task needs at least one")
    return fields


def to_entry(field: Field) -> dict[str, Any]:
    """The YAML / JSON mapping :func:`parse_field` reads back (round trip)."""
    entry: dict[str, Any] = {"name": field.name, "type": field.kind}
    for f in dataclasses.fields(field):
        if f.name == "name":
            continue
        value = getattr(field, f.name)
        entry[f.name] = [to_entry(s) for s in value] if f.name == "fields" else value
    return entry
