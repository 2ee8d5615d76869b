"""CTR models, one file each (config dataclass + model); the catalogue (``mmrec.catalogue``) lists them."""

from mmrec.models.ctr.base import CTRModel, CTROutput, Modalities

__all__ = ["CTRModel", "CTROutput", "Modalities"]
