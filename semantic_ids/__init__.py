"""FAISS residual quantizers and Mixture-of-Codes semantic IDs. Never imports mmrec.

Typical use (the pipeline's quantize stage), with ``embeddings`` ``(n_items, dim)`` in item order::

    moc = MixtureOfCodes(dim, n_codebooks=3, levels=3, nbits="auto", seed=seed).fit(embeddings)
    codes = moc.encode(embeddings)              # int64 (n_items, 3, 3), 2**moc.nbits codes per level
    report = moc.stats(embeddings, codes)       # JSON-able
    moc.save(out / "quantizer")                 # FAISS files + JSON; MixtureOfCodes.load(out / "quantizer")
"""

from semantic_ids.mixture import MixtureOfCodes, auto_nbits, collision_suffix
from semantic_ids.residual import ResidualQuantizer
from semantic_ids.stats import embedding_stats, mixture_stats

__all__ = ["MixtureOfCodes", "ResidualQuantizer", "auto_nbits", "collision_suffix", "embedding_stats", "mixture_stats"]
