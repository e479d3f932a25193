"""Deny by default, proven on the template as SAM transforms it (what CloudFormation deploys), in every
AuthMode: every route needs SigV4 but ``GET /health`` and the provider webhook POST (verified by its
provider's signature in the function), and the two ingest POSTs follow ``AuthMode``.

The matrix is read from the ``AWS::ApiGateway::RestApi`` body the translator generates (with each ``Fn::If``
decided for the mode), so a route added by an ``Api`` event, by the ``DefinitionBody`` or by an explicit
``AWS::ApiGateway::Method`` is in it; one that is not in ``EXPECTED`` fails the test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from plutus_dev.sam_transform import resolve, transform

MODES = ("NONE", "IAM", "WEBHOOK_SIGNATURE")
READS, INGEST = "ReadsFunction", "IngestFunction"
INGEST_ROUTES = {("POST", "/api/v1/ingest"), ("POST", "/api/v1/ingest/batch")}
# A provider (Stripe, GitHub...) cannot sign SigV4: open at API Gateway, 404/401 in the function.
PROVIDER_WEBHOOK = ("POST", "/api/v1/webhooks/{source}")


def expected(mode: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(method, resource) -> (function, authorization) for ``mode``."""
    ingest_auth = "AWS_IAM" if mode == "IAM" else "NONE"
    return {
        ("GET", "/health"): (INGEST, "NONE"),
        PROVIDER_WEBHOOK: (INGEST, "NONE"),
        **dict.fromkeys(INGEST_ROUTES, (INGEST, ingest_auth)),
        ("GET", "/api/v1/{proxy+}"): (READS, "AWS_IAM"),
        ("GET", "/docs"): (READS, "AWS_IAM"),
        ("GET", "/redoc"): (READS, "AWS_IAM"),
        ("GET", "/openapi.json"): (READS, "AWS_IAM"),
    }


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transform()


def _authorization(operation: dict[str, Any], body: dict[str, Any]) -> str:
    # An operation's own `security` wins over the document's; none at all is API Gateway's NONE.
    security = operation.get("security", body.get("security")) or []
    schemes = body.get("securityDefinitions", {})
    kinds = set()
    for requirement in security:
        for name in requirement:
            scheme = schemes[name]  # an undefined scheme would fail the import: fail here first
            if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4":
                kinds.add("AWS_IAM")
            elif "x-amazon-apigateway-authorizer" in scheme:
                kinds.add("CUSTOM")
            else:
                kinds.add(f"unsupported {name}")
    return "/".join(sorted(kinds)) or "NONE"


def _function(operation: dict[str, Any]) -> str:
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    found = re.search(r"functions/\$\{(\w+)\.Arn\}/invocations", integration["uri"]["Fn::Sub"])
    assert found, integration
    return found.group(1)


def matrix(resources: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """(method, resource) -> (function, authorization) of every method of every REST API in ``resources``."""
    routes: dict[tuple[str, str], tuple[str, str]] = {}
    for api in (r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"):
        body = api["Properties"]["Body"]
        for path, operations in body["paths"].items():
            for method, operation in operations.items():
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                routes[(verb, path)] = (_function(operation), _authorization(operation, body))
    return routes


@pytest.mark.parametrize("mode", MODES)
def test_the_route_by_auth_mode_matrix(transformed: dict[str, Any], mode: str) -> None:
    resources = resolve(transformed, {"AuthMode": mode})

    assert matrix(resources) == expected(mode)


@pytest.mark.parametrize("mode", MODES)
def test_no_method_but_get_health_is_open_except_ingest_outside_iam_mode(
    transformed: dict[str, Any], mode: str
) -> None:
    resources = resolve(transformed, {"AuthMode": mode})
    open_routes = {route for route, (_, auth) in matrix(resources).items() if auth == "NONE"}
    # Explicit methods (none today) are held to the same rule.
    open_routes |= {
        (r["Properties"]["HttpMethod"], r["Properties"].get("ResourceId", "?"))
        for r in resources.values()
        if r["Type"] == "AWS::ApiGateway::Method"
        and r["Properties"].get("AuthorizationType", "NONE") == "NONE"
    }

    # Outside IAM mode the ingest POSTs pass API Gateway and are authenticated by the function (webhook
    # signatures) or by a trusted gateway in front (NONE).
    allowed = {("GET", "/health"), PROVIDER_WEBHOOK} | (set() if mode == "IAM" else INGEST_ROUTES)
    assert open_routes == allowed


def test_reads_and_docs_reach_only_the_read_only_function(transformed: dict[str, Any]) -> None:
    resources = resolve(transformed, {"AuthMode": "NONE", "KmsKeyArn": ""})
    role = next(r for name, r in resources.items() if name == "ReadsFunctionRole")
    actions = {
        action
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    managed = role["Properties"].get("ManagedPolicyArns", [])

    assert actions == {"dynamodb:GetItem", "dynamodb:Query"}
    # Logs only (and X-Ray, as Tracing is Active): nothing that writes data.
    assert all(re.search(r"AWSLambdaBasicExecutionRole|AWSXrayWriteOnlyAccess", str(arn)) for arn in managed)
