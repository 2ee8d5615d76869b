"""Tiny PAD building blocks shared by the PAD tests: backbone configs and the synthetic catalogue size."""

from mmrec.models.gru4rec import GRU4RecConfig
from mmrec.models.sasrec import SASRecConfig

N_ITEMS = 40  # items N_ITEMS - 4 .. N_ITEMS never occur in the synthetic split: never seen


def backbone_config(kind):
    if kind == "sasrec":
        return SASRecConfig(dim=16, n_layers=1, n_heads=2, max_len=10, dropout=0.1)
    return GRU4RecConfig(dim=16, hidden=16, max_len=10, dropout=0.1)
