"""SnapStart: the hooks registered with the runtime renew, after a restore, what restored environments must
not share (clients with their connections and credentials, cached secrets, random state), and the template
offers SnapStart on published versions behind the alias every event source invokes."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from plutus import bootstrap, snapstart
from plutus.adapters.aws import Clients
from plutus.bootstrap import Root
from plutus.ingest.auth import ParameterSecretStore
from plutus_dev.sam_transform import resolve, transform
from tests.fakes import settings


class Runtime:
    """Stands in for the Lambda runtime's ``snapshot_restore_py``: keeps the hooks, runs them on demand."""

    def __init__(self) -> None:
        self.before: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.after: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def register_before_snapshot(self, fn: Callable[..., Any], *args: Any) -> None:
        self.before.append((fn, args))

    def register_after_restore(self, fn: Callable[..., Any], *args: Any) -> None:
        self.after.append((fn, args))

    def snapshot_and_restore(self) -> None:
        # The runtime's order: before-snapshot hooks in reverse order of registration, after-restore in order.
        for fn, args in reversed(self.before):
            fn(*args)
        for fn, args in self.after:
            fn(*args)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    fake = Runtime()
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = fake.register_before_snapshot  # type: ignore[attr-defined]
    module.register_after_restore = fake.register_after_restore  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield fake
    bootstrap.reset()


class FakeProvider:
    """A Powertools parameters provider's cache, as far as the secret store uses it."""

    def __init__(self) -> None:
        self.cache = {"/plutus/webhooks/shop": "whsec_x"}

    def clear_cache(self) -> None:
        self.cache.clear()


def test_without_the_runtime_module_nothing_is_registered() -> None:
    assert "snapshot_restore_py" not in sys.modules
    assert snapstart.register(Root(settings())) is False


def test_after_a_restore_every_client_is_new_and_adapters_use_the_new_one(runtime: Runtime) -> None:
    # Given a root whose clients were built at init (as the entry points build them before the snapshot)
    root = Root(settings())
    held = root.clients("dynamodb")  # what an adapter keeps
    clients: Clients = root.clients  # type: ignore[assignment]
    before = (clients.client("dynamodb"), clients.client("sqs"), clients.session)
    assert snapstart.register(root) is True

    # When the runtime snapshots and restores
    runtime.snapshot_and_restore()

    # Then the clients and the session (its credentials, its connection pools) are new ones...
    after = (clients.client("dynamodb"), clients.client("sqs"), clients.session)
    assert all(new is not old for new, old in zip(after, before, strict=True))
    # ...the adapter's handle reaches the new client, and the service models were not loaded again
    assert held.meta is clients.client("dynamodb").meta
    assert after[2].get_component("data_loader") is before[2].get_component("data_loader")


def test_a_restore_forgets_cached_secrets_and_reseeds_random(runtime: Runtime) -> None:
    # Given cached webhook secrets and a remembered miss, and random state fixed at init
    provider = FakeProvider()
    store = ParameterSecretStore(provider, "/plutus/webhooks/", 300)
    store._missing["/plutus/webhooks/unknown"] = 1e18
    root = Root(settings())
    root.renewals.append(store.forget)
    snapstart.register(root)
    random.seed(7)
    in_snapshot = random.random()
    random.seed(7)

    # When restored
    runtime.snapshot_and_restore()

    # Then nothing cached before the snapshot survives, and random no longer replays the snapshot's sequence
    assert provider.cache == {} and store._missing == {}
    assert random.random() != in_snapshot


def test_the_environments_root_registers_its_hooks_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"events": "e", "state": "s", "idempotency": "i", "queue": "q"}.items():
        monkeypatch.setenv(f"PLUTUS_{name.upper()}_{'URL' if name == 'queue' else 'TABLE'}", value)
    bootstrap.reset()
    first = bootstrap.root()
    assert bootstrap.root() is first
    assert [args for _, args in runtime.after] == [(first,)]


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transform()


def test_the_template_offers_snapstart_behind_the_alias_the_event_sources_invoke(
    transformed: dict[str, Any],
) -> None:
    resources = resolve(transformed, {"AuthMode": "NONE"})
    functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    plutus = {n for n in functions if n in {"IngestFunction", "ConsumerFunction", "ReadsFunction"}}
    assert plutus == {"IngestFunction", "ConsumerFunction", "ReadsFunction"}
    for name in plutus:
        assert functions[name]["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
        assert resources[f"{name}Aliaslive"]["Type"] == "AWS::Lambda::Alias"
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mappings and all(
        m["Properties"]["FunctionName"] == {"Ref": "ConsumerFunctionAliaslive"} for m in mappings
    )


def test_snapstart_is_off_by_default() -> None:
    import yaml

    from plutus_dev.emulator.template import TEMPLATE

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(TEMPLATE.read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass
    assert template["Parameters"]["SnapStart"]["Default"] == "None"
