"""/openapi.json and /docs describe every endpoint: each operation has a summary or description,
/health is there, the jobs endpoints are described, and the WebSocket protocol of /ws (frames and
their answers) is on the docs page, its frame schemas the contract's own."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import TypeAdapter

from envcore import contract

pytestmark = pytest.mark.django_db
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items() if method in METHODS]


def test_every_operation_has_a_description(document) -> None:
    found = operations(document)
    assert len(found) >= 19
    undescribed = [f"{m.upper()} {p}" for p, m, op in found if not (op.get("summary") or "").strip()
                   and not (op.get("description") or "").strip()]
    assert undescribed == []
    # Every tag an operation uses is described too.
    described = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert {tag for _, _, op in found for tag in op.get("tags", ())} <= set(described)
    assert all(described.values())


def test_health_is_documented_as_it_answers(client, document) -> None:
    health = document["paths"]["/health"]["get"]
    assert health["summary"] and health["description"] and set(health["responses"]) == {"200", "503"}
    schema = health["responses"]["200"]["content"]["application/json"]["schema"]
    body = client.get("/health").json()
    assert set(body) == set(schema["required"]) == set(schema["properties"])
    assert all(body[key] in schema["properties"][key]["enum"] for key in body)


def test_the_jobs_endpoints_are_described(document) -> None:
    jobs = [(p, m, op) for p, m, op in operations(document) if p.startswith(("/api/jobs", "/api/checkpoints"))]
    assert len(jobs) == 9
    for path, method, op in jobs:
        assert op["tags"] == ["jobs"] and op["summary"] and op["description"], f"{method.upper()} {path}"
    listing = document["paths"]["/api/jobs"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"kind", "status"}


def test_the_docs_page_names_ws_and_its_frames(client, document) -> None:
    # /docs loads this document (its start-up script names it), whose description it shows first.
    assert client.get("/docs").status_code == 200
    assert b'url: "/openapi.json"' in client.get("/docs?script=").content
    text = document["info"]["description"]
    assert "## WebSocket `/ws`" in text
    for frame in ("reset", "step", "state", "close", "mcp"):
        assert f"| `{frame}` (" in text, frame
    for answer in ("observation", "state", "error", "mcp"):
        assert f"`{answer}` (" in text, answer
    for code in typing.get_args(contract.ErrorData.model_fields["code"].annotation):
        assert f"`{code}`" in text, code


def test_the_frame_schemas_are_the_contracts_own(document) -> None:
    schemas = document["components"]["schemas"]
    frames: tuple[tuple[str, Any], ...] = (("WsClientFrame", contract.ClientFrame), ("WsServerFrame", contract.ServerFrame))
    for name, union in frames:
        derived = TypeAdapter(union).json_schema(ref_template="#/components/schemas/{model}")
        derived.pop("$defs", None)
        assert schemas[name] == derived, name
    assert set(schemas["WsClientFrame"]["discriminator"]["mapping"]) == set(contract.WS_FRAME_TYPES)
    for model in (contract.ResetFrame, contract.StepFrame, contract.StateFrame, contract.CloseFrame,
                  contract.ObservationFrame, contract.StateReplyFrame, contract.ErrorFrame):
        assert schemas[model.__name__]["properties"]["type"]["const"] == typing.get_args(
            model.model_fields["type"].annotation)[0]
    # A step frame's data is the action union, the same components POST /step's body uses.
    assert set(schemas["StepFrame"]["properties"]["data"]["discriminator"]["mapping"]) == set(contract.ACTION_TYPES)
    assert {"QueryDDI", "ProposeIntervention", "FinishReview", "ErrorData"} <= set(schemas)
