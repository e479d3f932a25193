"""ConsumerFunction entry point: SQS batches -> registered handlers, partial batch responses."""

from plutus.consumer.entry import build_lambda_handler

handler = build_lambda_handler()
