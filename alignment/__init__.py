"""PAD's recommendation-anchored alignment: multi-kernel MMD. Never imports mmrec."""
