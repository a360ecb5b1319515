"""`api/routing.add_flat` and `api/routing.Rendered`: the API's routes registered flat answer and
document exactly as the nested routers did, and a hot route's own JSON is FastAPI's, byte for byte.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from forgeml.api.app import api_router
from forgeml.api.routing import Rendered, Routes, add_flat
from forgeml.api.schemas import PageOut


def _app(flat: bool) -> FastAPI:
    app = FastAPI(generate_unique_id_function=lambda route: route.name)  # as api/app.py
    if flat:
        add_flat(app.router, api_router())
    else:
        app.include_router(api_router())
    return app


def test_the_flat_api_documents_what_the_nested_routers_did() -> None:
    assert _app(flat=True).openapi() == _app(flat=False).openapi()


def test_every_api_route_keeps_its_path_methods_and_name() -> None:
    nested, flat = _app(flat=False), _app(flat=True)
    routes = [r for r in flat.routes if isinstance(r, APIRoute)]
    assert len({r.name for r in routes}) > 50  # the whole API, not a part
    for r in routes:
        params = dict.fromkeys(re.findall(r"\{(\w+)(?::\w+)?\}", r.path), "x")
        assert nested.url_path_for(r.name, **params) == flat.url_path_for(r.name, **params)
        assert r.path.startswith("/api/v1/")
    assert sorted((r.path, sorted(r.methods)) for r in routes) == sorted(
        (r.path, sorted(r.methods)) for r in _nested_routes(nested.router)
    )


def _nested_routes(router: APIRouter, prefix: str = "") -> list[APIRoute]:
    out: list[APIRoute] = []
    for r in router.routes:
        if isinstance(r, APIRoute):
            r2 = APIRoute(prefix + r.path, r.endpoint, methods=list(r.methods), name=r.name)
            out.append(r2)
        elif (ctx := getattr(r, "include_context", None)) is not None:
            out += _nested_routes(r.original_router, prefix + ctx.prefix)  # type: ignore[attr-defined]
    return out


def test_a_router_dependency_still_runs_on_the_flat_route() -> None:
    seen: list[str] = []

    def dep() -> None:
        seen.append("dep")

    from fastapi import Depends

    api = Routes("/things", tags=["things"], dependencies=[Depends(dep)])

    @api.route("GET", "thing.list")
    def things() -> dict[str, int]:
        return {"n": 1}

    outer = APIRouter(prefix="/api")
    outer.include_router(api.router)
    app = FastAPI()
    add_flat(app.router, outer)
    assert TestClient(app).get("/api/things").json() == {"n": 1}
    assert seen == ["dep"]
    assert TestClient(app).get("/api/nothing").status_code == 404


def test_an_include_with_options_of_its_own_is_refused() -> None:
    inner = APIRouter()

    @inner.get("/x")
    def x() -> None: ...

    outer = APIRouter()
    outer.include_router(inner, tags=["extra"])
    with pytest.raises(TypeError, match="cannot flatten"):
        add_flat(APIRouter(), outer)


class Colour(Enum):
    RED = "red"


class Item(BaseModel):
    id: str
    colour: Colour
    at: datetime
    size: int | None = None
    note: str = Field(default="", alias="noteText")
    tags: dict[str, str] = {}


def test_rendered_json_is_fastapi_s_own_byte_for_byte() -> None:
    page = PageOut[Item](
        items=[
            Item(id="é✓", colour=Colour.RED, at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
            Item(id="b", colour=Colour.RED, at=datetime(2026, 1, 1), size=3, noteText='a"b'),
        ],
        next_cursor=None,
    )
    app = FastAPI()
    render = Rendered(PageOut[Item])

    @app.get("/model", response_model=PageOut[Item])
    def model() -> Any:
        return page

    @app.get("/rendered", response_model=PageOut[Item])
    def rendered() -> Response:
        return render(page)

    client = TestClient(app)
    a, b = client.get("/model"), client.get("/rendered")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    assert a.headers["content-type"] == b.headers["content-type"]
    assert (
        app.openapi()["paths"]["/model"]["get"]["responses"]
        == (app.openapi()["paths"]["/rendered"]["get"]["responses"])
    )
