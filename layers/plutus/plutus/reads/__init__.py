"""The reads function: event status, every pack's read endpoints, the docs and the OpenAPI document."""
