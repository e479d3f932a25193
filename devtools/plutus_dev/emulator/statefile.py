"""Where each running embedded stack says it runs: ``.plutus/stacks/<name>.json``.

``make dev`` writes the file once the stack is ready and removes it on a clean stop; the ``plutus`` CLI reads
it to find the stack without flags. A file whose process is gone (the stack was killed) is stale and ignored.
``PLUTUS_STATE_DIR`` moves the directory (tests use a temporary one).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from plutus_dev.emulator.template import ROOT

STATE_DIR_ENV = "PLUTUS_STATE_DIR"


def state_dir() -> Path:
    """The directory holding one state file per running stack."""
    configured = os.environ.get(STATE_DIR_ENV)
    return Path(configured) if configured else ROOT / ".plutus" / "stacks"


@dataclass(frozen=True)
class StackState:
    """What the CLI needs to reach one running embedded stack."""

    name: str
    pid: int
    api_url: str
    endpoint_url: str
    region: str
    events_table: str
    state_table: str
    queue_url: str
    dlq_url: str
    log_dir: str
    # The emulator's own process, when the stack started it (None on an external endpoint).
    emulator_pid: int | None = None
    # Where its functions read webhook secrets, and its WebhookSources (`plutus webhooks secret`).
    webhook_secret_prefix: str | None = None
    webhook_secret_store: str | None = None
    webhook_sources: str | None = None

    def alive(self) -> bool:
        """Whether the process that wrote this file still runs."""
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def path_for(name: str, directory: Path | None = None) -> Path:
    """The state file of the stack called ``name``."""
    return (directory or state_dir()) / f"{name}.json"


def write(state: StackState, directory: Path | None = None) -> Path:
    """Write ``state`` atomically (a reader never sees half a file)."""
    path = path_for(state.name, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read(path: Path) -> StackState | None:
    """The state in ``path``, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StackState(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove(name: str, pid: int, directory: Path | None = None) -> None:
    """Remove ``name``'s state file if it is still the one process ``pid`` wrote."""
    path = path_for(name, directory)
    current = read(path)
    if current is not None and current.pid == pid:
        path.unlink(missing_ok=True)


def running(directory: Path | None = None) -> tuple[list[StackState], list[StackState]]:
    """(live stacks, stale files) in the state directory, by name."""
    live: list[StackState] = []
    stale: list[StackState] = []
    folder = directory or state_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        state = read(path)
        if state is None:
            continue
        (live if state.alive() else stale).append(state)
    return live, stale


def find(name: str, directory: Path | None = None) -> StackState | None:
    """The live stack called ``name``, or None (no file, or its process is gone)."""
    state = read(path_for(name, directory))
    return state if state is not None and state.alive() else None
