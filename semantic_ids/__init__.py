"""FAISS residual quantizers and Mixture-of-Codes semantic IDs. Never imports mmrec."""

from semantic_ids.mixture import MixtureOfCodes, collision_suffix
from semantic_ids.residual import ResidualQuantizer
from semantic_ids.stats import embedding_stats, mixture_stats

__all__ = ["MixtureOfCodes", "ResidualQuantizer", "collision_suffix", "embedding_stats", "mixture_stats"]
