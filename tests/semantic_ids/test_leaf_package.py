"""semantic_ids is a leaf library: besides the standard library it imports only faiss, numpy and torch."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import semantic_ids

ALLOWED = {"faiss", "numpy", "torch", "semantic_ids"} | set(sys.stdlib_module_names)


def test_imports_stay_inside_the_allowed_set() -> None:
    for source in Path(semantic_ids.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED, f"{source.name} imports {name}"
