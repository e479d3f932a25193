"""Lambda SnapStart runtime hooks: what a snapshot may hold, and what each restored environment rebuilds.

With SnapStart (template parameter ``SnapStart``), Lambda runs init once per published version, snapshots the
microVM, and resumes every new execution environment from that snapshot. Whatever init created is then shared
by all of them, so after a restore each environment renews what must be its own:

- AWS clients, their connection pools and the credentials the session resolved at init
  (:meth:`plutus.adapters.aws.Clients.renew`; the loaded service models are kept);
- cached webhook secrets and remembered misses (their timestamps are the snapshot's);
- Python's ``random`` state (Powertools' log sampling, botocore's retry jitter), reseeded from the OS.
  ``uuid.uuid4`` and ``secrets`` read ``os.urandom``, which the kernel keeps unique per environment.

Before the snapshot nothing more is needed: the entry points already build the root, the registry and the
clients at init, so the snapshot holds them warm. The hooks come from ``snapshot_restore_py``, which the
Lambda Python runtime provides; where it is absent (tests, the embedded stack) registering is a no-op.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

from plutus.observability import logger


class Renewable(Protocol):
    """What the hooks renew: the composition root (:class:`plutus.bootstrap.Root`)."""

    def renew(self) -> None:
        """Rebuild what restored environments must not share."""


def _hooks() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found,unused-ignore]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return None
    return register_before_snapshot, register_after_restore


def before_snapshot() -> None:
    """Nothing to undo: init built what the snapshot should hold. Logged, so a snapshot shows in the logs."""
    logger.info("snapshot: init done")


def after_restore(root: Renewable) -> None:
    """Renew what restored environments must not share."""
    random.seed()
    root.renew()
    logger.info("restored from snapshot: clients, secrets and random state renewed")


def register(root: Renewable) -> bool:
    """Register the hooks for ``root`` if the runtime offers them; whether it did."""
    hooks = _hooks()
    if hooks is None:
        return False
    register_before_snapshot, register_after_restore = hooks
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore, root)
    return True
