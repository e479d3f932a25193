"""Plutus: idempotent, asynchronous event ingestion and processing on AWS Lambda."""

# The one version: OpenAPI reports it, and tests/unit/test_version.py holds pyproject.toml to it.
__version__ = "0.1.0"
