"""Dev-only tooling: the embedded local stack and the operator CLI. Never deployed."""
