"""The service as ``eqn serve`` runs it: the shipped model on the default runtime."""

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eqn.model.inference import DEFAULT_MODEL_NAME  # noqa: E402
from eqn.service import create_app  # noqa: E402


@pytest.fixture(scope="module")
def shipped():
    with TestClient(create_app()) as client:  # no model given: the default, as eqn serve
        yield client


def test_model_info_answers_on_the_default_runtime(shipped):
    info = shipped.get("/v1/model")
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["runtime"] == "onnx-int8"
    assert 0 < body["thresholds"]["calibrated"] < 10
    assert len(body["labels"]) == 28


def test_provenance_names_the_model_not_a_path(shipped):
    body = shipped.post("/v1/annotate", json={"texts": ["Thank you so much!"]}).json()
    provenance = body["provenance"]
    assert provenance["model"] == DEFAULT_MODEL_NAME
    assert "/" not in provenance["model"] and len(provenance["model_hash"]) == 16
    assert body["results"][0]["macro_emotion"] == "gratitude"
