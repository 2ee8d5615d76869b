"""Mixture-of-Codes: N independent residual-quantizer codebooks, each over its own view of the embedding.

One deep residual quantizer saturates: later levels carry little information. MoC instead gives an item N short
code tuples from N codebooks that see the embedding differently, so the tuples complement each other.
k-means is rotation-invariant, so codebooks over plain rotations of the same rows differ only by their k-means
initialisation. Each codebook therefore sees a different view (``views``):

- ``"projection"`` (the default with several codebooks): a seeded random orthonormal projection to ``view_dim``
  (default ``dim // 2``) dimensions, so each codebook clusters a different subspace;
- ``"slice"``: disjoint slices of ``dim // n_codebooks`` coordinates, one per codebook;
- ``"rotation"``: a seeded random rotation (the full embedding; the default for a single codebook),

and, with ``bootstrap`` (on by default), is fitted on its own seeded bootstrap sample of the rows (drawn with
replacement, ``min(n, train_size)`` of them), so that the codebooks also train on different data.

``nbits="auto"`` sizes the codes to the catalogue at fit time, see :func:`auto_nbits`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from semantic_ids.residual import ResidualQuantizer, as_float32_rows, seeded_sample
from semantic_ids.stats import error_sums, mixture_stats, reconstruction_mse

CONFIG_FILE = "mixture.json"
VIEW_FILE = "view.faiss"
MIN_POINTS_PER_CENTROID = 39  # FAISS k-means warns below this many training points per centroid
MAX_AUTO_NBITS = 8
Views = Literal["projection", "slice", "rotation"]


def auto_nbits(n_rows: int) -> int:
    """Bits per level for ``n_rows`` training rows: ``min(8, round(log2(n) / 2), floor(log2(n / 39)))``.

    ``2**nbits ~ sqrt(n)`` codes per level, so each code of a level is shared by ~sqrt(n) items (41 at ml-100k's
    1,682 items: 32 codes) and the level's embedding row is trained by many items, warm and cold alike; never
    fewer than 39 training rows per centroid (FAISS's minimum before it warns); at most 256 codes.
    """
    if n_rows < 2 * MIN_POINTS_PER_CENTROID:
        raise ValueError(f"nbits='auto' needs at least {2 * MIN_POINTS_PER_CENTROID} rows, got {n_rows}")
    return min(MAX_AUTO_NBITS, round(math.log2(n_rows) / 2), int(math.log2(n_rows / MIN_POINTS_PER_CENTROID)))


def bootstrap_rows(n_rows: int, size: int, seed: int) -> np.ndarray:
    """``min(n_rows, size)`` row indices drawn with replacement with ``seed``, in row order."""
    return np.sort(np.random.default_rng(seed).integers(0, n_rows, size=min(n_rows, size)))


def make_view(kind: Views, dim: int, view_dim: int, codebook: int, seed: int) -> faiss.LinearTransform:
    """Codebook ``codebook``'s view: a FAISS linear map ``dim -> view_dim`` (saved with the codebook)."""
    if kind == "slice":
        view = faiss.LinearTransform(dim, view_dim, False)
        selection = np.zeros((view_dim, dim), dtype=np.float32)
        selection[np.arange(view_dim), codebook * view_dim + np.arange(view_dim)] = 1.0
        faiss.copy_array_to_vector(selection.ravel(), view.A)
        view.is_trained = True
        return view
    view = faiss.RandomRotationMatrix(dim, view_dim)
    view.init(seed)
    return view


def collision_suffix(codes: np.ndarray) -> np.ndarray:
    """For code tuples ``(n, levels)``: 0 for the first item with its tuple, 1 for the second, ... (int64 ``(n,)``).

    Appended as an extra level, it makes every tuple unique. Numbering follows row order.
    """
    _, group = np.unique(codes, axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    first_of_group = np.repeat(starts, np.diff(np.r_[starts, len(group)]))
    suffix = np.empty(len(group), dtype=np.int64)
    suffix[order] = np.arange(len(group)) - first_of_group
    return suffix


class MixtureOfCodes:
    """``n_codebooks`` independent ``levels`` x ``2**nbits`` residual quantizers over their own views of the input.

    ``encode`` returns int64 codes ``(n, n_codebooks, levels)``, or ``levels + 1`` with ``suffix=True``: the last
    level then numbers the items that share a codebook's full tuple (see :func:`collision_suffix`), relative to the
    rows encoded in that call, so encode the whole catalogue at once. ``views=None`` means ``"projection"`` with
    several codebooks and ``"rotation"`` with one (a single codebook needs no diversity and keeps every
    dimension); ``view_dim=None`` is the view's natural width (``dim // 2``, ``dim // n_codebooks``, ``dim``).
    ``nbits="auto"`` is resolved by :meth:`fit` with :func:`auto_nbits` on the training sample size.
    """

    def __init__(
        self,
        dim: int,
        n_codebooks: int = 3,
        levels: int = 3,
        nbits: int | Literal["auto"] = 8,
        *,
        views: Views | None = None,
        view_dim: int | None = None,
        bootstrap: bool = True,
        suffix: bool = False,
        max_beam_size: int = 5,
        train_beam_size: int = 1,
        refine: bool = True,
        train_size: int = 65536,
        niter: int = 20,
        nredo: int = 5,
        batch_size: int = 16384,
        seed: int = 0,
    ):
        if n_codebooks < 1:
            raise ValueError(f"need at least one codebook, got {n_codebooks}")
        views = views or ("projection" if n_codebooks > 1 else "rotation")
        natural = {"projection": max(dim // 2, 1), "slice": dim // n_codebooks, "rotation": dim}
        if views not in natural:
            raise ValueError(f"views must be one of {sorted(natural)}, got {views!r}")
        view_dim = natural[views] if view_dim is None else view_dim
        widest = {"projection": dim, "slice": dim // n_codebooks, "rotation": dim}[views]
        if not 1 <= view_dim <= widest or (views == "rotation" and view_dim != dim):
            raise ValueError(f"view_dim for {views} views of {dim}-d input with {n_codebooks} codebooks must lie "
                             f"in [1, {widest}]{' and equal dim' if views == 'rotation' else ''}, got {view_dim}")
        if nbits != "auto" and not isinstance(nbits, int):
            raise ValueError(f"nbits must be an int or 'auto', got {nbits!r}")
        self.dim, self.n_codebooks, self.levels, self.nbits = dim, n_codebooks, levels, nbits
        self.views_kind, self.view_dim, self.bootstrap = views, view_dim, bootstrap
        self.suffix, self.batch_size, self.seed = suffix, batch_size, seed
        self._quantizer_args = {"max_beam_size": max_beam_size, "train_beam_size": train_beam_size,
                                "refine": refine, "train_size": train_size, "niter": niter,
                                "nredo": nredo, "batch_size": batch_size}
        self.codebook_seeds = (np.random.SeedSequence(seed).generate_state(n_codebooks).astype(np.int64)
                               % (2**31 - 1)).tolist()
        self.views: list[faiss.LinearTransform] = [make_view(views, dim, view_dim, c, codebook_seed)
                                                   for c, codebook_seed in enumerate(self.codebook_seeds)]
        self.quantizers: list[ResidualQuantizer] = [] if nbits == "auto" else self._new_quantizers(nbits)

    def _new_quantizers(self, nbits: int) -> list[ResidualQuantizer]:
        return [ResidualQuantizer(self.view_dim, self.levels, nbits, seed=codebook_seed, **self._quantizer_args)
                for codebook_seed in self.codebook_seeds]

    @property
    def train_size(self) -> int:
        return self._quantizer_args["train_size"]

    @property
    def codes_per_level(self) -> int:
        if self.nbits == "auto":
            raise RuntimeError("nbits='auto' is resolved by fit(): call fit() or load() first")
        return 1 << self.nbits

    @property
    def code_levels(self) -> int:
        """Levels per codebook in the output of :meth:`encode` (``levels``, plus one with the suffix)."""
        return self.levels + int(self.suffix)

    def settings(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able (``nbits`` as resolved once fitted)."""
        return {
            "dim": self.dim,
            "n_codebooks": self.n_codebooks,
            "levels": self.levels,
            "nbits": self.nbits,
            "views": self.views_kind,
            "view_dim": self.view_dim,
            "bootstrap": self.bootstrap,
            "suffix": self.suffix,
            **self._quantizer_args,
            "seed": self.seed,
        }

    def training_rows(self, n_rows: int, codebook: int) -> np.ndarray | None:
        """Indices of the rows codebook ``codebook`` is fitted on (None: a plain seeded sample of ``train_size``)."""
        if not self.bootstrap:
            return None
        return bootstrap_rows(n_rows, self.train_size, self.codebook_seeds[codebook])

    def view(self, x: np.ndarray, codebook: int) -> np.ndarray:
        """Rows of ``x`` as codebook ``codebook`` sees them: float32 ``(n, view_dim)``."""
        return self.views[codebook].apply(as_float32_rows(x, self.dim))

    def fit(self, x: np.ndarray) -> MixtureOfCodes:
        """Train every codebook on its own sample of ``x`` (see :meth:`training_rows`), seen through its view.

        One sample exists at a time, so fitting holds at most ``train_size`` extra rows.
        """
        if self.nbits == "auto":
            self.nbits = auto_nbits(min(len(x), self.train_size))
        if not self.quantizers:
            self.quantizers = self._new_quantizers(self.nbits)
        for codebook, (quantizer, seed) in enumerate(zip(self.quantizers, self.codebook_seeds)):
            rows = self.training_rows(len(x), codebook)
            sample = x[rows] if rows is not None else seeded_sample(x, self.train_size, seed)
            quantizer.fit(self.view(sample, codebook))
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Float rows ``(n, dim)`` (array or memmap) -> int64 codes ``(n, n_codebooks, code_levels)``, in batches."""
        codes = np.empty((len(x), self.n_codebooks, self.code_levels), dtype=np.int64)
        for start in range(0, len(x), self.batch_size):
            batch = x[start : start + self.batch_size]
            rows = slice(start, start + len(batch))
            for codebook, quantizer in enumerate(self.quantizers):
                codes[rows, codebook, : self.levels] = quantizer.encode(self.view(batch, codebook))
        if self.suffix:
            for codebook in range(self.n_codebooks):
                codes[:, codebook, self.levels] = collision_suffix(codes[:, codebook, : self.levels])
        return codes

    def decode(self, codes: np.ndarray, codebook: int) -> np.ndarray:
        """Codebook ``codebook``'s reconstruction, in its view space: float32 ``(n, view_dim)``.

        ``codes`` is either the full ``(n, n_codebooks, code_levels)`` array or that codebook's ``(n, >= levels)``
        slice; a suffix level is ignored.
        """
        codes = np.asarray(codes)
        if codes.ndim == 3:
            codes = codes[:, codebook]
        return self.quantizers[codebook].decode(codes[:, : self.levels])

    def reconstruction(self, x: np.ndarray, codes: np.ndarray) -> list[dict[str, float]]:
        """Per codebook, :func:`~semantic_ids.stats.reconstruction_mse` of ``x`` in its view space, in batches."""
        sums = np.zeros((self.n_codebooks, 3))
        for start in range(0, len(x), self.batch_size):
            batch, batch_codes = x[start : start + self.batch_size], codes[start : start + self.batch_size]
            for codebook in range(self.n_codebooks):
                sums[codebook] += error_sums(self.view(batch, codebook), self.decode(batch_codes, codebook))
        return [reconstruction_mse(s) for s in sums]

    def stats(self, x: np.ndarray, codes: np.ndarray) -> dict[str, Any]:
        """:func:`~semantic_ids.stats.mixture_stats` of ``codes = encode(x)``, with reconstruction errors."""
        return mixture_stats(codes[..., : self.levels], self.codes_per_level, self.reconstruction(x, codes))

    def save(self, path: str | Path) -> None:
        """Write ``path/mixture.json`` and, per codebook, ``path/codebook_<i>/`` with its view and quantizer (FAISS)."""
        if not self.quantizers:
            raise RuntimeError("MixtureOfCodes is not fitted: call fit() before save()")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for codebook, (view, quantizer) in enumerate(zip(self.views, self.quantizers)):
            folder = path / f"codebook_{codebook}"
            quantizer.save(folder)
            faiss.write_VectorTransform(view, str(folder / VIEW_FILE))
        (path / CONFIG_FILE).write_text(json.dumps(self.settings(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> MixtureOfCodes:
        """Read a mixture written by :meth:`save` (views and codebooks come from the files, not from the seed)."""
        path = Path(path)
        mixture = cls(**json.loads((path / CONFIG_FILE).read_text()))
        for codebook in range(mixture.n_codebooks):
            folder = path / f"codebook_{codebook}"
            view = faiss.read_VectorTransform(str(folder / VIEW_FILE))
            if (view.d_in, view.d_out) != (mixture.dim, mixture.view_dim):
                raise ValueError(
                    f"{folder / VIEW_FILE} maps {view.d_in} -> {view.d_out}, "
                    f"expected {mixture.dim} -> {mixture.view_dim}"
                )
            mixture.views[codebook] = view
            mixture.quantizers[codebook] = ResidualQuantizer.load(folder)
        return mixture
