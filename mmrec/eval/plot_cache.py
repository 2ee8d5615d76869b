"""A split's report plots, stored under the hash of what they are drawn from, so re-rendering re-uses them.

Drawing and PNG-encoding the plots with matplotlib was ~95 % of ``mmrec report DIR`` (6-12 s on a 2-core
machine; benchmarks/bench_cli.py). The key covers the split's inputs (the models' results, the prepare artifact
the frequency curve is read from) and the plotting code itself, so a changed result or a changed plot function
draws again; an unchanged run is re-rendered without importing matplotlib or the data tables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmrec.core.io import atomic_dir, hash_obj

_PLOT_CODE = ("report_plots.py", "embedding_section.py", "report.py")  # the modules that decide what is drawn


def _code_hash() -> str:
    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in _PLOT_CODE)).hexdigest()[:16]


def cached_plots(cache_root: Path, inputs: Any, draw: Callable[[], dict[str, bytes]]) -> dict[str, bytes]:
    """``draw()``'s ``{file name: PNG}``, from ``cache_root/<key>/`` when the same inputs were drawn before."""
    folder = cache_root / hash_obj({"inputs": inputs, "code": _code_hash()})
    manifest = folder / "plots.json"
    if manifest.is_file():
        return {name: (folder / name).read_bytes() for name in json.loads(manifest.read_text())}
    images = draw()
    with atomic_dir(folder) as tmp:  # all of a split's plots or none: a killed render leaves no partial entry
        for name, data in images.items():
            (tmp / name).write_bytes(data)
        (tmp / "plots.json").write_text(json.dumps(list(images)))
    return images
