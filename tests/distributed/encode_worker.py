"""Run under torchrun: the encode stage's sharded path must give every rank exactly the single-process result."""

import sys

import numpy as np

import encoders
from encoders import Encoded
from mmrec.stages.encode import encode_sharded
from mmrec.train import distributed


def fake_cached_encode(encoder, inputs, cache_dir, name=None):
    """A deterministic stand-in encoder: (length, sum of code points mod 7) per item; None is masked."""
    emb = np.array([[len(x), sum(map(ord, x)) % 7] if x else [0, 0] for x in inputs], dtype=np.float32)
    return Encoded(emb, np.array([x is not None for x in inputs]))


if __name__ == "__main__":
    group = distributed.init_from_env()
    items = [f"item {i}" * (i % 3 + 1) if i % 5 else None for i in range(int(sys.argv[1]))]
    encoders.cached_encode = fake_cached_encode
    emb, mask = encode_sharded(None, items, "unused", "text")
    ref = fake_cached_encode(None, items, None)
    assert np.array_equal(emb, ref.emb) and np.array_equal(mask, ref.mask)
    print(f"rank {group.rank}/{group.world_size} ok {emb.shape}", flush=True)
