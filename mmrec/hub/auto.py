"""Load any saved mmrec model by the ``model_type`` its ``config.json`` records (like transformers' ``AutoModel``):
the catalogue names the class, whose own ``from_pretrained`` does the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

from mmrec import catalogue
from mmrec.core.hub_mixin import CONFIG_FILE, HubError, read_saved_config


def saved_model_type(repo_id_or_dir: str | Path, **kwargs: Any) -> str:
    """The ``model_type`` of a saved folder or Hub repo (reads ``config.json`` only)."""
    source = Path(repo_id_or_dir)
    if source.is_dir():
        path = source / CONFIG_FILE
        if not path.is_file():
            raise HubError(f"{source}/{CONFIG_FILE}: missing; a saved mmrec model needs it (written by save_pretrained)")
    elif source.exists():
        raise HubError(f"{source}: not a folder; a saved mmrec model is a folder with {CONFIG_FILE}")
    else:
        options = {k: kwargs[k] for k in ("revision", "cache_dir", "force_download", "token", "local_files_only")
                   if k in kwargs}
        try:
            path = Path(hf_hub_download(str(repo_id_or_dir), CONFIG_FILE, **options))
        except (EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError, HFValidationError) as exc:
            raise HubError(f"{repo_id_or_dir}: cannot get {CONFIG_FILE} ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0]})") from None
    return str(read_saved_config(path)["model_type"])


def load_model(repo_id_or_dir: str | Path, **kwargs: Any) -> Any:
    """Any saved mmrec model (its type is read from ``config.json``), in eval mode: a sequential recommender
    (``model.score(histories)``) or a CTR model (``model.predict(batch)``)."""
    name = saved_model_type(repo_id_or_dir, **kwargs)
    try:
        cls = catalogue.model_class(name)
    except KeyError as exc:
        raise HubError(f"{repo_id_or_dir}/{CONFIG_FILE}: {exc.args[0]}") from None
    return cls.from_pretrained(repo_id_or_dir, **kwargs)
