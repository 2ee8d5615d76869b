"""Content matrices from the encode layout: per-modality L2 normalisation, masks, concatenation, errors."""

import pytest
import torch
from safetensors.torch import save_file

from mmrec.core.modalities import content_matrix


def _write(folder, name, emb, mask):
    save_file({"embeddings": emb, "mask": mask}, str(folder / f"{name}.safetensors"))


def test_concatenates_normalised_modalities_and_zeroes_missing_rows(tmp_path):
    text = torch.randn(5, 3) * 7
    text[0] = 0
    image = torch.randn(5, 4) * 100
    image[0] = 0
    mask_t = torch.tensor([False, True, True, True, True])
    mask_i = torch.tensor([False, True, False, True, True])
    _write(tmp_path, "text", text, mask_t)
    _write(tmp_path, "image", image, mask_i)
    content = content_matrix(tmp_path, ["text", "image"], n_items=4)
    assert content.shape == (5, 7)
    assert (content[0] == 0).all() and (content[2, 3:] == 0).all()
    assert torch.allclose(content[[1, 3, 4], :3].norm(dim=1), torch.ones(3))
    assert torch.allclose(content[[1, 3, 4], 3:].norm(dim=1), torch.ones(3))


def test_clear_errors(tmp_path):
    _write(tmp_path, "text", torch.zeros(3, 2), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(FileNotFoundError, match="image"):
        content_matrix(tmp_path, ["image"], n_items=2)
    with pytest.raises(ValueError, match="rows"):
        content_matrix(tmp_path, ["text"], n_items=5)
