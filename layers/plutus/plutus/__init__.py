"""Plutus: idempotent, asynchronous event ingestion and processing on AWS Lambda."""
