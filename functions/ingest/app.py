"""IngestFunction entry point: API Gateway -> FastAPI (Mangum). Logic lives in the plutus layer."""

from plutus.ingest.api import build_lambda_handler

handler = build_lambda_handler()
