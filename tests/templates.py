"""template.yaml resolved offline: the stack some parameters make, a resource's resolved properties."""

from __future__ import annotations

from typing import Any

from plutus_dev.emulator.template import Stack, default_parameters, load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def stack(**parameters: str) -> Stack:
    """The template resolved with ``parameters``; every resource's ARN is ``arn:test:<logical id>``."""
    return Stack(
        "t",
        "us-east-1",
        default_parameters(TEMPLATE, parameters),
        refs={name: f"ref:{name}" for name in RESOURCES},
        arns={name: f"arn:test:{name}" for name in RESOURCES},
        template=TEMPLATE,
    )


def props(s: Stack, name: str) -> dict[str, Any]:
    """Resource ``name``'s properties as ``s`` resolves them."""
    resolved: dict[str, Any] = s.resolve(RESOURCES[name].get("Properties", {}))
    return resolved
