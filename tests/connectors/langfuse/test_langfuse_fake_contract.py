"""The fake cannot drift from Langfuse's contract unnoticed: it flags bad requests and its own
bad responses (against the OpenAPI document and the SDK's response models)."""

from __future__ import annotations

import httpx
import pytest
from fixtures.langfuse_fake import LangfuseFake  # tests/ is on sys.path (conftest)


@pytest.fixture
def loose() -> LangfuseFake:
    fake = LangfuseFake().start()
    yield fake
    fake.stop()


def call(fake: LangfuseFake, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, fake.url + path, auth=(fake.public_key, fake.secret_key), **kwargs)


def test_undeclared_or_mistyped_query_parameters_are_violations(loose) -> None:
    response = call(loose, "GET", "/api/public/v2/observations", params={"bogus": "1", "limit": "many"})
    assert response.status_code == 400
    assert any("'bogus' is not in the contract" in v for v in loose.violations)
    assert any("limit: 'many' is not a valid integer" in v for v in loose.violations)


def test_bodies_are_checked_strictly(loose) -> None:
    response = call(loose, "POST", "/api/public/annotation-queues", json={"name": "q", "scoreConfigIds": [], "x": 1})
    assert response.status_code == 400
    call(loose, "POST", "/api/public/dataset-items", json={"id": "i"})  # datasetName is required
    call(loose, "POST", "/api/public/annotation-queues/q/items", json={"objectId": "t", "objectType": "SPAN"})
    text = "\n".join(loose.violations)
    assert "property 'x' is not in the contract" in text
    assert "missing required 'datasetName'" in text
    assert "'SPAN' not one of" in text


def test_a_response_off_the_contract_is_caught_by_schema_and_sdk_model(loose, monkeypatch) -> None:
    def broken(**kwargs: object) -> object:
        return {"data": [{"id": "o1", "startTime": "not a time", "unexpected": 1}], "meta": {}}

    monkeypatch.setattr(loose, "op_observations_getMany", broken)
    call(loose, "GET", "/api/public/v2/observations")
    text = "\n".join(loose.violations)
    assert "property 'unexpected' is not in the contract" in text  # OpenAPI, strict
    assert "missing required 'projectId'" in text
    assert "SDK model rejects the response" in text  # the SDK's ObservationsV2Response


def test_auth_is_enforced(loose) -> None:
    response = httpx.get(loose.url + "/api/public/v3/scores", auth=("pk", "wrong"))
    assert response.status_code == 401
    assert httpx.get(loose.url + "/api/public/v3/scores").status_code == 401
