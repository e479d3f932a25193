"""API Gateway's routing, from ``template.yaml``: which function a request goes to, and as which resource.

Each ``Api`` event of a function is a route (``Path``, ``Method``). As API Gateway does, a literal segment
beats a ``{param}`` and a ``{proxy+}`` matches what nothing more specific does; a request no route matches
never reaches a function. The embedded stack and the integration harness route with this, so reads reach the
reads function and ingest the ingest function exactly as where deployed.

Authorization is not enforced here (there are no IAM principals locally); what each route needs where
deployed is proven on the transformed template by ``tests/unit/test_route_auth.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    """One ``Api`` event: ``method`` on ``resource``, served by ``function`` (a logical id)."""

    function: str
    method: str
    resource: str

    @property
    def _segments(self) -> list[str]:
        return [s for s in self.resource.split("/") if s]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route serves ``method`` on ``path``, else ``None``."""
        if self.method not in {method, "ANY"}:
            return None
        pattern = ""
        for segment in self._segments:
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            param = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                pattern += rf"/(?P<{greedy.group(1)}>.+)"
            elif param:
                pattern += rf"/(?P<{param.group(1)}>[^/]+)"
            else:
                pattern += "/" + re.escape(segment)
        found = re.fullmatch(pattern or "/", path)
        return None if found is None else found.groupdict()

    @property
    def rank(self) -> tuple[int, int, int]:
        """Sort key: greedy routes last, then the ones with more parameters, then the shorter ones."""
        segments = self._segments
        greedy = any(s.endswith("+}") for s in segments)
        params = sum(s.startswith("{") for s in segments)
        return (int(greedy), params, -len(segments))


class RouteTable:
    """Every route of the template's API, most specific first."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.rank)

    @classmethod
    def from_template(cls, template: dict[str, Any]) -> RouteTable:
        """The ``Api`` events of every ``AWS::Serverless::Function``."""
        routes = []
        for logical, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            for event in (resource["Properties"].get("Events") or {}).values():
                if event["Type"] == "Api":
                    props = event["Properties"]
                    routes.append(Route(logical, str(props["Method"]).upper(), str(props["Path"])))
        return cls(routes)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route serving ``method`` on ``path`` and its path parameters, or ``None``."""
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def functions(self) -> set[str]:
        """The logical ids of the functions behind the API."""
        return {route.function for route in self.routes}
