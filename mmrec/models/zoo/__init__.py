"""The model zoo on the feature layer: name -> (model class, config class); each registered for Hub save / load
as ``model_type = "zoo_<name>"``."""

from __future__ import annotations

from mmrec.hub import register
from mmrec.models.zoo.base import ZooConfig, ZooModel
from mmrec.models.zoo.dcnv2 import DCNv2, DCNv2Config
from mmrec.models.zoo.deepfm import DeepFM, DeepFMConfig
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.models.zoo.fm import FM, FMConfig
from mmrec.models.zoo.lr import LR, LRConfig

MODELS: dict[str, tuple[type[ZooModel], type[ZooConfig]]] = {
    "lr": (LR, LRConfig),
    "fm": (FM, FMConfig),
    "dnn": (DNN, DNNConfig),
    "deepfm": (DeepFM, DeepFMConfig),
    "dcnv2": (DCNv2, DCNv2Config),
}

for _name, (_cls, _) in MODELS.items():
    register(f"zoo_{_name}", _cls)

__all__ = ["DCNv2", "DCNv2Config", "DNN", "DNNConfig", "DeepFM", "DeepFMConfig", "FM", "FMConfig", "LR", "LRConfig",
           "MODELS", "ZooConfig", "ZooModel"]
