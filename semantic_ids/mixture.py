"""Mixture-of-Codes: N independent residual-quantizer codebooks, each over its own random view of the embedding.

One deep residual quantizer saturates: later levels carry little information. MoC instead gives an item N short
code tuples from N codebooks that see the embedding differently, so the tuples complement each other. Each view is
a seeded random orthonormal map (FAISS ``RandomRotationMatrix``): a rotation (``view_dim=None``) or a projection to
``view_dim < dim`` dimensions. k-means is rotation-invariant, so with plain rotations the codebooks differ through
their seeds (training sample and k-means initialisation); projections also change what each codebook sees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from semantic_ids.residual import ResidualQuantizer, as_float32_rows, seeded_sample
from semantic_ids.stats import error_sums, mixture_stats, reconstruction_mse

CONFIG_FILE = "mixture.json"
VIEW_FILE = "view.faiss"


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
    """``n_codebooks`` independent ``levels`` x ``2**nbits`` residual quantizers over random views of the input.

    ``encode`` returns int64 codes ``(n, n_codebooks, levels)``, or ``levels + 1`` with ``suffix=True``: the last
    level then numbers the items that share a codebook's full tuple (see :func:`collision_suffix`), relative to the
    rows encoded in that call, so encode the whole catalogue at once.
    """

    def __init__(
        self,
        dim: int,
        n_codebooks: int = 3,
        levels: int = 3,
        nbits: int = 8,
        *,
        view_dim: int | None = None,
        suffix: bool = False,
        max_beam_size: int = 5,
        train_beam_size: int = 1,
        refine: bool = True,
        train_size: int = 65536,
        niter: int = 20,
        batch_size: int = 16384,
        seed: int = 0,
    ):
        view_dim = dim if view_dim is None else view_dim
        if not 1 <= view_dim <= dim:
            raise ValueError(f"view_dim must lie in [1, {dim}], got {view_dim}")
        if n_codebooks < 1:
            raise ValueError(f"need at least one codebook, got {n_codebooks}")
        self.dim, self.n_codebooks, self.levels, self.nbits = dim, n_codebooks, levels, nbits
        self.view_dim, self.suffix, self.batch_size, self.seed = view_dim, suffix, batch_size, seed
        seeds = np.random.SeedSequence(seed).generate_state(n_codebooks).astype(np.int64) % (2**31 - 1)
        self.views: list[faiss.RandomRotationMatrix] = []
        self.quantizers: list[ResidualQuantizer] = []
        for codebook_seed in seeds.tolist():
            view = faiss.RandomRotationMatrix(dim, view_dim)
            view.init(codebook_seed)
            self.views.append(view)
            self.quantizers.append(
                ResidualQuantizer(
                    view_dim,
                    levels,
                    nbits,
                    max_beam_size=max_beam_size,
                    train_beam_size=train_beam_size,
                    refine=refine,
                    train_size=train_size,
                    niter=niter,
                    batch_size=batch_size,
                    seed=codebook_seed,
                )
            )

    @property
    def codes_per_level(self) -> int:
        return 1 << self.nbits

    @property
    def code_levels(self) -> int:
        """Levels per codebook in the output of :meth:`encode` (``levels``, plus one with the suffix)."""
        return self.levels + int(self.suffix)

    def settings(self) -> dict[str, int | bool | None]:
        """The constructor arguments, JSON-able."""
        q = self.quantizers[0]
        return {
            "dim": self.dim,
            "n_codebooks": self.n_codebooks,
            "levels": self.levels,
            "nbits": self.nbits,
            "view_dim": self.view_dim,
            "suffix": self.suffix,
            "max_beam_size": q.max_beam_size,
            "train_beam_size": q.train_beam_size,
            "refine": q.refine,
            "train_size": q.train_size,
            "niter": q.niter,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }

    def view(self, x: np.ndarray, codebook: int) -> np.ndarray:
        """Rows of ``x`` as codebook ``codebook`` sees them: float32 ``(n, view_dim)``."""
        return self.views[codebook].apply(as_float32_rows(x, self.dim))

    def fit(self, x: np.ndarray) -> MixtureOfCodes:
        """Train every codebook on its own seeded sample of ``train_size`` rows of ``x``, seen through its view."""
        for codebook, quantizer in enumerate(self.quantizers):
            quantizer.fit(self.view(seeded_sample(x, quantizer.train_size, quantizer.seed), codebook))
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
