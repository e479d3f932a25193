"""mkdocs hooks: publish files that live elsewhere in the repository without copying them into docs/."""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent

# The plots `make bench` and `make capacity` write, shown on the Benchmark and Capacity pages.
PUBLISHED = ("bench/plot.png", "bench/capacity.png")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the published repository files to the site, at the same relative path."""
    for path in PUBLISHED:
        files.append(File.generated(config, path, abs_src_path=str(ROOT / path)))
    return files
