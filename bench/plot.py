"""The PNG: AWS calls and ingest CPU per event, Plutus against the reference, single and batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(results: dict[str, Any], path: Path) -> None:
    """Two panels of grouped bars. The reference has no batch API: its batch bars are one event a request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ingest = results["ingest"]
    groups = ["single, new", "single, duplicate", "batch of 100, new", "batch, 10% duplicates"]
    ours = [
        ingest["single_new"]["ours"],
        ingest["single_dup"]["ours"],
        ingest["batch_new"]["ours"],
        ingest["batch_dup10"]["ours"],
    ]
    reference = [ingest[k]["reference"] for k in ("single_new", "single_dup", "batch_new", "batch_dup10")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    for ax, key, title in (
        (axes[0], "calls_per_event", "AWS calls per event"),
        (axes[1], "cpu_ms_per_event", "ingest CPU ms per event (median of 5)"),
    ):
        x = range(len(groups))
        ax.bar([i - 0.2 for i in x], [m[key] for m in ours], width=0.4, label="Plutus", color="#2b6cb0")
        ax.bar(
            [i + 0.2 for i in x],
            [m[key] for m in reference],
            width=0.4,
            label="reference (one request per event)",
            color="#a0aec0",
        )
        for i, m in enumerate(ours):
            ax.annotate(f"{m[key]:.2f}", (i - 0.2, m[key]), ha="center", va="bottom", fontsize=7)
        for i, m in enumerate(reference):
            ax.annotate(f"{m[key]:.2f}", (i + 0.2, m[key]), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(list(x), groups, rotation=15, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"make bench: {results['machine']['cpu']}, {results['machine']['cores']} cores", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
