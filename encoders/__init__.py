"""Item encoders (text, image, LLM), frozen or LoRA-tuned, with an embedding cache. Never imports mmrec."""

from encoders.base import Encoded, Encoder
from encoders.cache import CacheError, EmbeddingCache, cached_encode
from encoders.factory import build_encoder, lora_settings
from encoders.image import ImageEncoder
from encoders.llm import LLMEncoder
from encoders.lora import LoraSettings, TuneResult, load_adapter, merge_lora, tune_lora
from encoders.text import TextEncoder

__all__ = [
    "CacheError",
    "Encoded",
    "Encoder",
    "EmbeddingCache",
    "ImageEncoder",
    "LLMEncoder",
    "LoraSettings",
    "TextEncoder",
    "TuneResult",
    "build_encoder",
    "cached_encode",
    "load_adapter",
    "lora_settings",
    "merge_lora",
    "tune_lora",
]
