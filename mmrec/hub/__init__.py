"""Sharing models through the Hugging Face Hub: load any saved model (:func:`load_model`), the top items of a
history (:func:`recommend`), a run's models as Hub folders with model cards (:func:`export_run_model`).

Saving is every model's own ``save_pretrained`` (:class:`mmrec.core.hub_mixin.HubMixin`).
"""

from mmrec.core.hub_mixin import HubError, HubMixin
from mmrec.core.model_card import model_card
from mmrec.hub.auto import load_model
from mmrec.hub.export import SavedModel, export_run_model, recommend, run_models
from mmrec.items import register_item_representation

__all__ = ["HubError", "HubMixin", "SavedModel", "export_run_model", "load_model", "model_card", "recommend",
           "register_item_representation", "run_models"]
