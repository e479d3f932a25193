"""One version: the package's __version__ (what OpenAPI reports) is pyproject.toml's."""

from __future__ import annotations

import tomllib
from pathlib import Path

import plutus

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_and_pyproject_agree_on_the_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert plutus.__version__ == project["version"]
