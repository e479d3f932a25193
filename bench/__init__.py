"""``make bench``: Plutus against the canonical Powertools pattern, on one emulator, in one run."""
