"""ImageEncoder: missing/unreadable images are masked and counted, root escapes are refused, workers do
not change results, HF vision models load by repo id offline (a tiny ViT built from its config)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from encoders.image import ImageEncoder, imagenet_transform


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        pixels = rng.integers(0, 255, size=(40, 30, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{name}.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "truncated.jpg").write_bytes((tmp_path / "a.jpg").read_bytes()[:200])
    return tmp_path


@pytest.fixture(scope="module")
def vit(tiny_vit_dir: Path) -> ImageEncoder:
    return ImageEncoder(str(tiny_vit_dir), num_workers=0, batch_size=2)


def test_missing_and_unreadable_images_are_masked_and_counted(vit: ImageEncoder, image_root: Path) -> None:
    vit.root = image_root.resolve()
    items = ["a.jpg", None, "broken.jpg", "b.jpg", "", "nope.jpg", "truncated.jpg", "c.jpg"]
    emb, mask = vit.encode(items)
    assert mask.tolist() == [True, False, False, True, False, False, False, True]
    assert not emb[~mask].any() and np.abs(emb[mask]).sum(axis=1).min() > 0
    assert vit.last_counts == {"missing": 3, "unreadable": 2}
    alone = vit.encode(["b.jpg"]).emb[0]
    np.testing.assert_allclose(alone, emb[3], atol=1e-5)


def test_paths_escaping_root_are_refused(vit: ImageEncoder, image_root: Path, tmp_path_factory) -> None:
    vit.root = image_root.resolve()
    outside = tmp_path_factory.mktemp("outside")
    Image.new("RGB", (8, 8)).save(outside / "x.jpg")
    os.symlink(outside / "x.jpg", image_root / "link.jpg")
    for bad in ["../outside/x.jpg", str(outside / "x.jpg"), "link.jpg"]:
        with pytest.raises(ValueError, match="escapes the image root") as err:
            vit.encode(["a.jpg", bad])
        assert bad in str(err.value)


def test_dataloader_workers_give_identical_results(tiny_vit_dir: Path, image_root: Path) -> None:
    items = ["a.jpg", "broken.jpg", "b.jpg", "c.jpg", None]
    serial = ImageEncoder(str(tiny_vit_dir), root=image_root, num_workers=0, batch_size=2).encode(items)
    parallel = ImageEncoder(str(tiny_vit_dir), root=image_root, num_workers=2, batch_size=2).encode(items)
    np.testing.assert_array_equal(serial.emb, parallel.emb)
    np.testing.assert_array_equal(serial.mask, parallel.mask)


def test_hf_vision_model_by_repo_id_offline_uses_cls_token(
    tiny_vit_dir: Path, hub_cache, image_root: Path
) -> None:
    from transformers import ViTImageProcessor, ViTModel

    revision = hub_cache(tiny_vit_dir, "tiny-org/tiny-vit")
    encoder = ImageEncoder("tiny-org/tiny-vit", root=image_root, num_workers=0)
    assert encoder.dim == 32 and encoder.fingerprint()["snapshot"] == revision
    emb = encoder.encode(["a.jpg"]).emb
    model = ViTModel.from_pretrained(tiny_vit_dir).eval()
    pixels = ViTImageProcessor.from_pretrained(tiny_vit_dir)(images=Image.open(image_root / "a.jpg"), return_tensors="pt")
    with torch.inference_mode():
        expected = model(**pixels).last_hidden_state[:, 0]
    np.testing.assert_allclose(emb, expected.numpy(), atol=1e-5)
    mean = ImageEncoder("tiny-org/tiny-vit", root=image_root, num_workers=0, pooling="mean").encode(["a.jpg"]).emb
    assert not np.allclose(mean, emb)


def test_imagenet_transform_crops_centre_and_normalises() -> None:
    image = Image.new("RGB", (224, 336), color=(124, 116, 104))  # the ImageNet mean colour
    pixels = imagenet_transform(image)
    assert pixels.shape == (3, 224, 224)
    assert pixels.abs().max() < 0.01


def test_default_efficientnet_gives_1280_features(image_root: Path) -> None:
    encoder = ImageEncoder(root=image_root, num_workers=0)
    emb, mask = encoder.encode(["a.jpg", "broken.jpg"])
    assert emb.shape == (2, 1280) and mask.tolist() == [True, False]
    assert (emb[0] >= 0).all() and emb[0].std() > 0  # pooled post-activation features


def test_clip_style_model_gives_projected_image_embeds(tmp_path: Path, image_root: Path) -> None:
    """A tiny CLIP (built from its config, saved and reloaded) is encoded through `get_image_features`."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={**small, "vocab_size": 99},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(tmp_path / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path / "clip")
    encoder = ImageEncoder(str(tmp_path / "clip"), root=image_root, num_workers=0)
    assert encoder.dim == 16
    emb = encoder.encode(["a.jpg"]).emb
    model = CLIPModel.from_pretrained(tmp_path / "clip").eval()
    pixels = CLIPImageProcessor.from_pretrained(tmp_path / "clip")(images=Image.open(image_root / "a.jpg"), return_tensors="pt")
    with torch.inference_mode():
        expected = model.get_image_features(**pixels)
    expected = expected if isinstance(expected, torch.Tensor) else expected.pooler_output
    np.testing.assert_allclose(emb, expected.numpy(), atol=1e-5)


def test_folded_channels_last_efficientnet_matches_the_plain_model_in_order(image_root: Path) -> None:
    """encode() runs a BN-folded channels-last copy in parallel workers; per-image plain-model features agree."""
    items = ["c.jpg", "broken.jpg", "a.jpg", None, "b.jpg"]
    encoder = ImageEncoder(root=image_root, num_workers=2, batch_size=2)
    emb, mask = encoder.encode(items)
    assert mask.tolist() == [True, False, True, False, True]
    with torch.inference_mode():
        plain = np.stack([encoder.embed_batch([items[i]])[0].numpy() for i in (0, 2, 4)])
    np.testing.assert_allclose(emb[[0, 2, 4]], plain, rtol=1e-4, atol=1e-4)
    assert not np.allclose(emb[0], emb[2])
    folded = encoder.inference_model()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
