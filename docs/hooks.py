"""mkdocs hooks: publish files that live elsewhere in the repository without copying them into docs/."""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent

# The benchmark's plot is written by `make bench` next to bench/results.json; the Benchmark page shows it.
PUBLISHED = ("bench/plot.png",)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the published repository files to the site, at the same relative path."""
    for path in PUBLISHED:
        files.append(File.generated(config, path, abs_src_path=str(ROOT / path)))
    return files
