"""mmrec: multimodal, LLM-augmented recommendation with cold-item evaluation."""

__version__ = "0.1.0"
