"""The HTTP API: bearer keys stored hashed, per-item 422s, status look-up, health."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.store.apikeys import create_key
from notifier.store.models import ApiKey, Dossier
from notifier.web.api import create_app
from notifier.workflows.service import Service
from tests.factories import dossier


def _client(service: Service) -> tuple[TestClient, str]:
    with service.factory() as session, session.begin():
        key = create_key(session, "portal", service.clock.now())
    return TestClient(create_app(service)), key


def test_keys_are_stored_hashed(service: Service) -> None:
    _, key = _client(service)
    with service.factory() as session:
        row = session.scalar(select(ApiKey))
    assert row is not None and key not in row.key_hash and row.prefix in key


def test_ingest_requires_a_valid_key(service: Service) -> None:
    client, key = _client(service)
    body = {"data": [dossier()]}
    assert client.post("/api/v1/dossiers", json=body).status_code == 401
    bad = client.post("/api/v1/dossiers", json=body, headers={"Authorization": f"Bearer {key}x"})
    assert bad.status_code == 401
    assert (
        client.post(
            "/api/v1/dossiers", json=body, headers={"Authorization": "Bearer nk_00000000_guess"}
        ).status_code
        == 401
    )
    with service.factory() as session:
        assert session.scalar(select(Dossier)) is None
    ok = client.post("/api/v1/dossiers", json=body, headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200 and ok.json()["created"] == 1
    again = client.post("/api/v1/dossiers", json=[dossier()], headers={"Authorization": f"Bearer {key}"})
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 1, "errors": [], "warnings": []}


def test_bad_items_get_422_with_details_and_good_ones_are_kept(service: Service) -> None:
    client, key = _client(service)
    body = {"data": [dossier("GOOD"), dossier("BAD", SoDienThoai="12ab")]}
    resp = client.post("/api/v1/dossiers", json=body, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 422
    data = resp.json()
    assert data["created"] == 1
    [error] = data["errors"]
    assert error["row"] == 2 and error["MaHoSo"] == "BAD" and error["field"] == "SoDienThoai"
    assert error["value"] == "12ab"
    not_json = client.post("/api/v1/dossiers", content=b"{oops", headers={"Authorization": f"Bearer {key}"})
    assert not_json.status_code == 422
    wrong_shape = client.post(
        "/api/v1/dossiers", json={"items": []}, headers={"Authorization": f"Bearer {key}"}
    )
    assert wrong_shape.status_code == 422 and wrong_shape.json()["detail"][0]["field"] == "data"


def test_status_lookup_and_health(service: Service) -> None:
    client, key = _client(service)
    client.post("/api/v1/dossiers", json=[dossier()], headers={"Authorization": f"Bearer {key}"})
    auth = {"Authorization": f"Bearer {key}"}
    found = client.get("/api/v1/dossiers/000.00.30.H26-261120-0001", headers=auth).json()
    assert found["status_name"] == "Đang xử lý" and found["phone"] == "091****678"
    assert found["working_days_left"] == 3  # Tue 01/12 → Fri 04/12
    assert client.get("/api/v1/dossiers/NOPE", headers=auth).status_code == 404
    assert client.get("/api/v1/dossiers/NOPE").status_code == 401
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_post_bodies_are_documented_with_the_portals_fields(service: Service) -> None:
    client, _ = _client(service)
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]

    def body_of(path: str) -> dict:
        ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        if "anyOf" in ref:  # an optional body
            ref = next(r for r in ref["anyOf"] if "$ref" in r)
        return components[ref["$ref"].rsplit("/", 1)[1]]

    dossiers = body_of("/api/v1/dossiers")
    assert dossiers["required"] == ["data"]
    item = dossiers["properties"]["data"]["items"]
    assert {"MaHoSo", "TrangThaiHoSo", "NgayHenTra", "DanhSachLePhi"} <= set(item["properties"])
    assert "MaHoSo" in item["required"]
    assert {"MaCanBo", "HoTen", "MaDonVi"} <= set(body_of("/api/v1/officers")["properties"]["data"]["items"]["properties"])
    assert "PhongBanXuLy" in body_of("/api/v1/progress")["properties"]["data"]["items"]["properties"]
    apology = body_of("/api/v1/dossiers/{code}/apology")["properties"]
    assert {"new_due", "NgayHenTraMoi", "reason", "LyDoTreHan", "officer", "MaCanBo"} <= set(apology)
    assert {"officer", "MaCanBo", "note"} <= set(body_of("/api/v1/dossiers/{code}/resolve")["properties"])
    assert schema["paths"]["/api/v1/dossiers/{code}/resolve"]["post"]["requestBody"].get("required") is not True
    assert body_of("/api/v1/feedback/{feedback_id}/answer")["required"] == ["answer"]


def test_bodies_are_read_without_a_content_type_and_refused_naming_the_field(service: Service) -> None:
    client, key = _client(service)
    auth = {"Authorization": f"Bearer {key}"}
    raw = json.dumps({"data": [dossier("RAW"), 7]}).encode()
    resp = client.post("/api/v1/dossiers", content=raw, headers=auth)  # no Content-Type, as some senders do
    assert resp.status_code == 422 and resp.json()["created"] == 1
    assert resp.json()["errors"] == [
        {"row": 2, "MaHoSo": None, "field": "data", "value": 7, "reason": "each item must be a JSON object"}
    ]
    not_a_list = client.post("/api/v1/progress", json={"data": "S1"}, headers=auth)
    assert not_a_list.status_code == 422
    assert not_a_list.json()["detail"] == [{"field": "data", "value": "S1", "reason": "Input should be a valid list"}]
    broken = client.post("/api/v1/officers", content=b'{"data": [', headers=auth | {"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["field"] == "body"
    assert broken.json()["detail"][0]["reason"].startswith("not JSON: ")
    officer = client.post("/api/v1/dossiers/RAW/apology", json={"new_due": "10/12/2026", "officer": {"x": 1}}, headers=auth)
    assert officer.status_code == 422 and officer.json()["detail"][0]["field"] == "officer"
    # A path parameter out of range keeps FastAPI's own answer.
    huge = client.post(f"/api/v1/feedback/{2**70}/answer", json={"answer": "Đã xử lý"}, headers=auth)
    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["path", "feedback_id"]


def test_status_lookup_masks_the_address_a_delivery_error_names(service: Service) -> None:
    """A notice refused because its number opted out carries "<address> opted out of …": the API answer
    (and `notifier status`) gave the whole number there, beside the masked "phone"."""
    import asyncio

    from notifier.store.contacts import record_opt_out

    client, key = _client(service)
    auth = {"Authorization": f"Bearer {key}"}
    with service.factory() as session, session.begin():
        record_opt_out(session, "+84912345678", "file", service.clock.now(), reason="test", source="admin")
    client.post("/api/v1/dossiers", json=[dossier(TrangThaiHoSo=2, NgayTiepNhan="20261201080000")], headers=auth)
    service.scan()
    asyncio.run(service.dispatcher.drain())
    found = client.get("/api/v1/dossiers/000.00.30.H26-261120-0001", headers=auth).json()
    [note] = found["notifications"]
    assert note["status"] == "failed" and note["error"] == "no usable channel: file: 091****678 opted out of file"
    assert "912345678" not in json.dumps(found)
