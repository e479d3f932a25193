"""moto in server mode, with DynamoDB's atomicity restored.

Run as ``python -m plutus_dev.emulator.moto_server -p PORT``.

moto serves each request on its own thread without a lock, so two concurrent conditional writes can both
pass their condition, and a cancelled transaction rolls back by restoring a deep copy of every table it
touched, undoing other requests' writes made meanwhile. Plutus' exactly-once marker *is* a conditional
write, so against plain moto four competing consumers double-apply effects and lose status updates that
AWS never would. Two fixes, both scoped to this dev-only process:

- DynamoDB requests are served one at a time (every DynamoDB write is atomic on AWS; SQS keeps moto's
  concurrency, so its long polls still overlap).
- A transaction snapshots only the items it touches and restores those on cancellation, instead of
  deep-copying whole tables (which also made every transaction O(table size)).

And one for SQS FIFO queues (template parameter QueueMode=fifo): a message group is held back while one of
its messages is in flight, as on AWS, and no longer once that message is visible again. moto counted a
message whose visibility timeout had expired as still in flight until it was received again, so it handed
out a group's *later* messages first, which no FIFO queue does. And its long poll spun (a busy loop for the
whole wait) while every visible message belonged to a group in flight, starving the server.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

DYNAMODB_TARGET_PREFIX = "DynamoDB_"

_dynamodb_lock = threading.Lock()


class SerialDynamoDB:
    """WSGI middleware: DynamoDB requests run one at a time, everything else as moto does."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET_PREFIX):
            with _dynamodb_lock:
                # moto builds the whole body inside the call; materialise it under the lock all the same.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def _item_keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Key") or op.get("Item") or {}
        if table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.has_range_key else None
        if table.has_range_key and table.range_key_attr not in key:
            continue
        keys.append((table, hash_value, range_value))
    return keys


def patch_moto() -> None:
    """Item-level rollback for ``TransactWriteItems`` (moto copies whole tables)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshot = [
            (table, h, r, copy.deepcopy(table.get_item(h, r)))
            for table, h, r in _item_keys(self, transact_items)
        ]
        try:
            original(self, transact_items)
        except Exception:
            for table, h, r, item in snapshot:
                if item is None:
                    table.delete_item(h, r)
                elif r is not None:
                    table.items[h][r] = item
                else:
                    table.items[h] = item
            raise

    def same_table(self: Any, memo: dict[int, Any]) -> Any:
        # moto's own rollback restores this "copy": now a no-op, the item snapshot above does the work.
        return self

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.__deepcopy__ = same_table  # type: ignore[attr-defined]
    _patch_fifo_groups()


def _patch_fifo_groups() -> None:
    """A FIFO group is in flight while one of its received messages is invisible, not after; a long poll
    waits for a message it may deliver, not for any visible one."""
    from moto.sqs.models import Queue

    def pending_message_groups(self: Any) -> set[str]:
        return {m.group_id for m in self._pending_messages if m.group_id is not None and not m.visible}

    def deliverable(self: Any) -> bool:
        if not self.fifo_queue:
            return bool(self.messages)
        busy = self.pending_message_groups
        return any(m.group_id not in busy for m in self.messages)

    def wait_for_messages(self: Any, timeout: int) -> None:
        with self._messages_lock:
            self._messages_lock.wait_for(lambda: deliverable(self), timeout=timeout)

    Queue.pending_message_groups = property(pending_message_groups)  # type: ignore[method-assign, assignment]
    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    """Run moto's server (same arguments as ``python -m moto.server``) with the fixes above."""
    import moto.server
    from moto.moto_server import werkzeug_app

    patch_moto()
    dispatcher = werkzeug_app.DomainDispatcherApplication

    def serial_dispatcher(create_app: Any) -> Any:
        return SerialDynamoDB(dispatcher(create_app))

    moto.server.DomainDispatcherApplication = serial_dispatcher  # type: ignore[misc, assignment]
    moto.server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
