"""JSON rendered once: a hot route that built its response model returns these bytes itself, so
FastAPI neither re-validates the model nor hops to a worker thread to do it (the route's declared
model still documents the response). The bytes are those FastAPI's own `dump_json` path writes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel, TypeAdapter


class Rendered:
    """Serializer of one response model, built once at import (a TypeAdapter is costly to make)."""

    def __init__(self, model: Any) -> None:
        self._adapter: TypeAdapter[Any] = TypeAdapter(model)

    def __call__(self, value: BaseModel, status: int = 200) -> Response:
        body = self._adapter.dump_json(value, by_alias=True)
        return Response(body, status_code=status, media_type="application/json")
