"""IngestFunction entry point: API Gateway -> the two ingest routes and GET /health, framework-free.

Logic lives in the plutus layer.
"""

from plutus.ingest.entry import build_lambda_handler

handler = build_lambda_handler()
