"""Ingest: validate, deduplicate and enqueue. Never process inline."""
