"""CTR models on the typed feature layer (:mod:`mmrec.features`), one file each, FuxiCTR model-zoo style: the
feature layer in, one interaction module, one head. Each says its ``model_type`` (``zoo_<name>``); the catalogue
lists them."""

from mmrec.models.zoo.base import ZooConfig, ZooModel

__all__ = ["ZooConfig", "ZooModel"]
