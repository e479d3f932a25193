"""ReadsFunction entry point: API Gateway -> the read API (event status, pack reads, docs, OpenAPI).

Logic lives in the plutus layer.
"""

from plutus.reads.entry import build_reads_handler

handler = build_reads_handler()
