"""Where a dossier event came from: an API key or file name of any length is stored (what fits), never a
reason to refuse every row of an import (issue 11: varchar(32) refused them all on PostgreSQL)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from notifier.store.apikeys import create_key
from notifier.store.models import Dossier, DossierEvent
from notifier.web.api import create_app
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service
from tests.factories import dossier


def test_a_long_api_key_name_does_not_refuse_the_import(service: Service) -> None:
    name = "cong-dich-vu-cong-quoc-gia-dong-bo-ho-so-hai-phong"  # 50 characters
    with service.factory() as session, session.begin():
        key = create_key(session, name, service.clock.now())
    client = TestClient(create_app(service))
    resp = client.post("/api/v1/dossiers", json={"data": [dossier()]}, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["created"] == 1
    with service.factory() as session:
        assert session.scalar(select(DossierEvent.source)) == f"api:{name}"


def test_a_file_name_longer_than_the_column_is_clipped_not_refused(service: Service) -> None:
    source = "import:" + "du-lieu-ho-so-thang-12-nam-2026-" * 10 + ".json"  # 7 + 330 + 5 characters
    report = ImportWorkflow(service).dossiers([dossier()], source)
    assert (report.created, report.errors) == (1, [])
    with service.factory() as session:
        stored = session.scalar(select(DossierEvent.source))
        assert session.scalar(select(Dossier.code)) is not None
    assert stored is not None and source.startswith(stored) and len(stored) == 255
