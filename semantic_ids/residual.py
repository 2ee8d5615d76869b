"""A FAISS residual quantizer with unpacked integer codes, streaming encoding and FAISS serialisation.

One semantic-ID codebook: ``levels`` residual levels of ``2**nbits`` codes each, trained level by level with k-means
on a seeded sample; encoding uses FAISS's beam search (``max_beam_size``) and streams over the input in batches, so a
catalogue only ever exists once as float rows and once as int64 codes.

Training is per-level k-means (FAISS ``Train_default``), optionally followed by FAISS's least-squares refinement of
all codebooks jointly (``refine``, on by default: lower error than plain residual k-means at the same budget).
FAISS's default progressive-dimension k-means is not used: its codebooks change with the OpenMP thread count.
The same seed and thread count give the same codes; across thread counts, refinement can differ in the last bits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np

INDEX_FILE = "quantizer.faiss"
SETTINGS_FILE = "settings.json"


def unpack_codes(packed: np.ndarray, levels: int, nbits: int) -> np.ndarray:
    """FAISS's packed code bytes ``(n, code_size)`` -> int64 codes ``(n, levels)``.

    FAISS writes each level's ``nbits`` least-significant-bit first into a little-endian bit stream
    (``faiss.BitstringWriter``), so any ``nbits`` (not only 8) unpacks with a little-endian ``unpackbits``.
    """
    bits = np.unpackbits(packed, axis=1, bitorder="little")[:, : levels * nbits]
    weights = np.left_shift(np.int64(1), np.arange(nbits, dtype=np.int64))
    return bits.reshape(len(packed), levels, nbits).astype(np.int64) @ weights


def as_float32_rows(x: Any, dim: int) -> np.ndarray:
    """A C-contiguous float32 ``(n, dim)`` view or copy of ``x``, with a clear error on the wrong shape."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected a float matrix of shape (n, {dim}), got {x.shape}")
    return x


def seeded_sample(x: Any, size: int, seed: int) -> Any:
    """At most ``size`` rows of ``x``, drawn without replacement with ``seed`` and kept in row order."""
    if len(x) <= size:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), size, replace=False))]


class ResidualQuantizer:
    """``levels`` x ``2**nbits`` residual quantizer (FAISS), seeded and reproducible.

    ``train_size`` rows are sampled (seeded) for training; ``niter`` k-means iterations per level;
    ``max_beam_size`` is the beam width for encoding (wider = lower error, slower); ``train_beam_size`` the width used
    while training; ``refine`` adds the joint least-squares codebook refinement; ``batch_size`` rows are
    encoded/decoded at a time. ``nredo``: k-means runs per level, the lowest-error one kept. One run often ends in a
    poor optimum where one code takes most of a level: on ml-100k's MiniLM item vectors (32 codes per level, 8 seeds,
    ``benchmarks/bench_kmeans_restarts.py``) one codebook of 3 levels put on average 53 % of the items on one code of
    some level (up to 98 %), so only 27 % of the items had a tuple of their own; five runs bring that to 22 % (at
    most 35 %) and 53 %, and lower the reconstruction error, at 2.5x the fit time.
    """

    def __init__(
        self,
        dim: int,
        levels: int = 3,
        nbits: int = 8,
        *,
        max_beam_size: int = 5,
        train_beam_size: int = 1,
        refine: bool = True,
        train_size: int = 65536,
        niter: int = 20,
        nredo: int = 5,
        batch_size: int = 16384,
        seed: int = 0,
    ):
        if levels < 1 or not 1 <= nbits <= 16 or nredo < 1:
            raise ValueError(f"need levels >= 1, 1 <= nbits <= 16 and nredo >= 1, got levels={levels}, nbits={nbits}, "
                             f"nredo={nredo}")
        self.dim, self.levels, self.nbits = dim, levels, nbits
        self._max_beam_size, self.train_beam_size, self.refine = max_beam_size, train_beam_size, refine
        self.train_size, self.niter, self.nredo = train_size, niter, nredo
        self.batch_size, self.seed = batch_size, seed
        self.index = faiss.IndexResidualQuantizer(
            dim, levels, nbits, faiss.METRIC_L2, faiss.AdditiveQuantizer.ST_decompress
        )
        self._configure()

    def _configure(self) -> None:
        rq = self.index.rq
        rq.train_type = faiss.ResidualQuantizer.Train_default | (
            faiss.ResidualQuantizer.Train_refine_codebook if self.refine else 0
        )
        rq.max_beam_size = self.max_beam_size
        rq.cp.seed = self.seed
        rq.cp.niter = self.niter
        rq.cp.nredo = self.nredo

    @property
    def max_beam_size(self) -> int:
        """Beam width for encoding; may be changed after training (it is not part of the codebooks)."""
        return self._max_beam_size

    @max_beam_size.setter
    def max_beam_size(self, value: int) -> None:
        self._max_beam_size = self.index.rq.max_beam_size = value

    @property
    def codes_per_level(self) -> int:
        return 1 << self.nbits

    @property
    def is_trained(self) -> bool:
        return bool(self.index.is_trained)

    def settings(self) -> dict[str, int | bool]:
        """The constructor arguments, JSON-able."""
        return {
            "dim": self.dim,
            "levels": self.levels,
            "nbits": self.nbits,
            "max_beam_size": self.max_beam_size,
            "train_beam_size": self.train_beam_size,
            "refine": self.refine,
            "train_size": self.train_size,
            "niter": self.niter,
            "nredo": self.nredo,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }

    def fit(self, x: np.ndarray) -> ResidualQuantizer:
        """Train on at most ``train_size`` rows of ``x``, drawn without replacement with ``seed``."""
        if len(x) < self.codes_per_level:
            raise ValueError(
                f"need at least {self.codes_per_level} training rows for 2**{self.nbits} codes, got {len(x)}"
            )
        sample = as_float32_rows(seeded_sample(x, self.train_size, self.seed), self.dim)
        self.index.rq.max_beam_size = self.train_beam_size
        self.index.train(sample)
        self.index.rq.max_beam_size = self.max_beam_size
        return self

    def _check_trained(self) -> None:
        if not self.is_trained:
            raise RuntimeError("ResidualQuantizer is not trained: call fit() or load() first")

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Float rows ``(n, dim)`` (array or memmap) -> int64 codes ``(n, levels)``, in batches."""
        self._check_trained()
        codes = np.empty((len(x), self.levels), dtype=np.int64)
        for start in range(0, len(x), self.batch_size):
            batch = as_float32_rows(x[start : start + self.batch_size], self.dim)
            packed = self.index.rq.compute_codes(batch)
            codes[start : start + len(batch)] = unpack_codes(packed, self.levels, self.nbits)
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Int codes ``(n, levels)`` -> float32 reconstructions ``(n, dim)`` (sum of the levels' centroids)."""
        self._check_trained()
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.levels:
            raise ValueError(f"expected codes of shape (n, {self.levels}), got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.codes_per_level):
            raise ValueError(f"codes must lie in [0, {self.codes_per_level})")
        out = np.empty((len(codes), self.dim), dtype=np.float32)
        for start in range(0, len(codes), self.batch_size):
            batch = np.ascontiguousarray(codes[start : start + self.batch_size], dtype=np.int32)
            self.index.rq.decode_unpacked(faiss.swig_ptr(batch), faiss.swig_ptr(out[start:]), len(batch))
        return out

    def save(self, path: str | Path) -> None:
        """Write ``path/quantizer.faiss`` (FAISS's own format) and ``path/settings.json``."""
        self._check_trained()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(path / INDEX_FILE))
        (path / SETTINGS_FILE).write_text(json.dumps(self.settings(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> ResidualQuantizer:
        """Read a quantizer written by :meth:`save`."""
        path = Path(path)
        quantizer = cls(**json.loads((path / SETTINGS_FILE).read_text()))
        index = faiss.read_index(str(path / INDEX_FILE))
        if not isinstance(index, faiss.IndexResidualQuantizer) or index.d != quantizer.dim:
            raise ValueError(f"{path / INDEX_FILE} does not hold a {quantizer.dim}-d IndexResidualQuantizer")
        quantizer.index = index
        quantizer._configure()
        return quantizer
