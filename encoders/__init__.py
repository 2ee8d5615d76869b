"""Item encoders (text, image, LLM), frozen or LoRA-tuned, with an embedding cache. Never imports mmrec."""
