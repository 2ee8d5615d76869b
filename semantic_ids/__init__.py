"""FAISS residual quantizers and Mixture-of-Codes semantic IDs. Never imports mmrec."""
