"""``quantize``: Mixture-of-Codes semantic IDs (METHODS.md §2) per configured variant, from one embedding source.

For every variant of ``quantize.all_variants()`` (``rq<s>``, ``moc<N>``, explicit ones) the stage fits a
``semantic_ids.MixtureOfCodes`` on the embeddings of the items that have the source modality and writes::

    <variant>/quantizer/     FAISS views + residual quantizers (MixtureOfCodes.save / .load)
    <variant>/codes.npy      int64 (N + 1, n_codebooks, code_levels); row 0 = padding (all zeros), row i = item i
    <variant>/stats.json     per-codebook utilisation, entropy, collision rate, reconstruction MSE; unique-item rate
    quantize.json            source, variants, item counts, seconds

The source comes from the ``encode`` artifact, or from ``quantize.modalities_dir`` (same ``<modality>.safetensors``
layout) when that is set. Row 0 of ``codes.npy`` is padding so that ``codes[item_idx]`` works directly. Items
missing the source modality all get the reserved code ``2**nbits`` at every level (one shared "unknown" tuple,
outside the fitted codebooks), so the models give them one learned "no content" vector (plus their ID embedding when
they have one). Stats are computed over present items only. ``nbits: auto`` sizes the codes to the catalogue; an
explicit nbits that the catalogue cannot fill gets fewer bits per level (logged; the bits used are in
``stats.json`` under ``settings``). ``source: concat`` joins the
L2-normalised text, image and LLM embeddings (a missing modality contributes zeros; an item is present when any
modality is). An ``aligned`` source (PAD's ``align`` stage) would be one more branch in :func:`source_embeddings`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from mmrec.core.config import ConfigError
from mmrec.core.io import fingerprint_tree, write_json
from mmrec.core.modalities import load_modalities
from mmrec.pipeline import Stage, StageContext
from mmrec.recipe import QuantizeConfig, RecipeConfig

log = logging.getLogger("mmrec")

CONCAT_PARTS = ("text", "image", "llm")


def source_embeddings(encoded: dict, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings (N+1, d) float32, present (N+1,) bool)`` for ``quantize.source`` from an encode artifact."""
    if source == "concat":
        parts = [name for name in CONCAT_PARTS if name in encoded]
        if not parts:
            raise ConfigError(f"quantize.source=concat needs one of the encoders {list(CONCAT_PARTS)}")
        blocks, present = [], np.zeros(len(encoded[parts[0]][1]), dtype=bool)
        for name in parts:
            emb, mask = (t.numpy() for t in encoded[name])
            norms = np.linalg.norm(emb, axis=1, keepdims=True)
            blocks.append(np.where(norms > 0, emb / np.maximum(norms, 1e-12), 0.0) * mask[:, None])
            present |= mask
        return np.concatenate(blocks, axis=1).astype(np.float32), present
    if source not in encoded:
        raise ConfigError(f"quantize.source={source!r}: the encode stage has no such encoder "
                          f"(it has {sorted(encoded)}); add encode.encoders.{source}")
    emb, mask = encoded[source]
    return emb.numpy().astype(np.float32), mask.numpy().astype(bool)


def run(ctx: StageContext) -> None:
    from semantic_ids import MixtureOfCodes, auto_nbits  # FAISS loads when the stage runs, not at import
    from semantic_ids.mixture import MIN_POINTS_PER_CENTROID

    cfg: QuantizeConfig = ctx.cfg.quantize
    tables = Path(cfg.modalities_dir).expanduser() if cfg.modalities_dir else ctx.inputs["encode"]
    emb, present = source_embeddings(load_modalities(tables), cfg.source)
    present[0] = False  # padding row
    rows = np.flatnonzero(present)
    if len(rows) == 0:
        raise ConfigError(f"quantize: no item has the '{cfg.source}' embedding")
    x = np.ascontiguousarray(emb[rows])
    summary = {"source": cfg.source, "tables": str(tables), "n_items": int(len(emb) - 1), "n_present": int(len(rows)),
               "variants": {}}
    for name, variant in cfg.all_variants().items():
        start = time.perf_counter()
        if variant.nbits == "auto" and len(rows) < 2 * MIN_POINTS_PER_CENTROID:
            nbits = 1  # a toy catalogue: two codes per level (FAISS may warn about too few points)
            log.info("quantize %s: only %d items, 2 codes per level", name, len(rows))
        elif variant.nbits == "auto":
            nbits = auto_nbits(len(rows))
        else:
            nbits = min(variant.nbits, int(np.log2(len(rows))))  # k-means needs at least 2**nbits rows
            if nbits < variant.nbits:
                log.warning("quantize %s: only %d items, using %d bits per level instead of %d",
                            name, len(rows), nbits, variant.nbits)
        moc = MixtureOfCodes(x.shape[1], variant.n_codebooks, variant.levels, nbits, views=variant.views,
                             view_dim=variant.view_dim, bootstrap=variant.bootstrap, suffix=variant.suffix,
                             train_size=cfg.train_size,
                             niter=cfg.niter, nredo=cfg.nredo, seed=cfg.seed,
                             refine=variant.levels << nbits <= len(rows)).fit(x)  # FAISS refine needs enough rows
        item_codes = moc.encode(x)
        codes = np.full((len(emb), variant.n_codebooks, moc.code_levels), moc.codes_per_level, dtype=np.int64)
        codes[0] = 0
        codes[rows] = item_codes
        folder = ctx.out / name
        moc.save(folder / "quantizer")
        np.save(folder / "codes.npy", codes, allow_pickle=False)
        stats = moc.stats(x, item_codes)
        stats.update({"n_missing_reserved_code": int(len(emb) - 1 - len(rows)), "settings": moc.settings(),
                      "seconds": round(time.perf_counter() - start, 3)})
        write_json(folder / "stats.json", stats)
        summary["variants"][name] = {"n_codebooks": variant.n_codebooks, "levels": moc.code_levels,
                                     "unique_rate": stats["unique_rate"], "seconds": stats["seconds"]}
    write_json(ctx.out / "quantize.json", summary)


def _fingerprint(cfg: RecipeConfig) -> str:
    return fingerprint_tree(cfg.quantize.modalities_dir) if cfg.quantize.modalities_dir else ""


STAGE = Stage(name="quantize", run=run, needs=("encode",), sections=("quantize",), version="1", on_demand=True,
              fingerprint=_fingerprint)
