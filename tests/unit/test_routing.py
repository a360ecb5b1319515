"""`api/routing.Routes`: one line per route, and the rules it enforces when a module is imported."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from forgeml.api.routing import Routes, attachment


class Thing(BaseModel):
    id: str


def test_a_route_documents_the_router_errors_its_own_and_its_resource_types() -> None:
    api = Routes("/things", tags=["things"], errors=(401, 403), ids={"thing_id": "thing"})

    @api.route("GET /{thing_id}", "thing.get", Thing, errors=(404,))
    def get(thing_id: str) -> Thing:
        return Thing(id=thing_id)

    app = FastAPI(generate_unique_id_function=lambda route: route.name)  # as api/app.py
    app.include_router(api.router)
    op = app.openapi()["paths"]["/things/{thing_id}"]["get"]
    assert op["operationId"] == "thing.get"  # the route's name
    assert set(op["responses"]) >= {"200", "401", "403", "404"}
    assert op["x-forgeml-resources"] == {"thing_id": "thing"}
    assert TestClient(app).get("/things/t1").json() == {"id": "t1"}


def test_an_undeclared_path_parameter_fails_at_import() -> None:
    api = Routes("/things", tags=["things"])
    with pytest.raises(ValueError, match=r"name the resource type of \['thing_id'\]"):
        api.route("GET /{thing_id}", "thing.get", Thing)


@pytest.mark.parametrize("bad", ["FETCH /x", "GET x", "get /x"])
def test_a_malformed_method_path_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="expected 'METHOD /path'"):
        Routes(tags=["t"]).route(bad, "thing.get")


def test_attachment_names_any_file_name_safely() -> None:
    assert (
        attachment('mo del"; x=.tar.gz')
        == "attachment; filename*=UTF-8''mo%20del%22%3B%20x%3D.tar.gz"
    )
