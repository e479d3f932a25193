"""Field types shared by domain pack models."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Ids become parts of state keys (``PK#<id>``): no '#', no spaces, bounded.
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
