"""The packs sit above the core and below the entry points: no pack module imports an adapter, boto3 or an
entry point (their reads get the state reader from the app that mounts them, through ``domains/deps.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import plutus.domains

DOMAINS = Path(plutus.domains.__file__).parent
FORBIDDEN = ("plutus.adapters", "plutus.ingest", "plutus.consumer", "boto3", "botocore")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_pack_module_reaches_down_to_an_adapter_or_up_to_an_entry_point() -> None:
    modules = sorted(DOMAINS.rglob("*.py"))
    assert len(modules) > 30  # every pack's package, not an empty glob
    offending = {
        f"{path.relative_to(DOMAINS)}: {name}"
        for path in modules
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert offending == set()
