"""IngestFunction entry point: API Gateway -> the ingest endpoints (FastAPI for the other routes).

Logic lives in the plutus layer.
"""

from plutus.ingest.entry import build_lambda_handler

handler = build_lambda_handler()
