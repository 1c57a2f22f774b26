import io
import threading

import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eqn.model.estimator import EQN  # noqa: E402
from eqn.service import ServiceLimits, create_app  # noqa: E402

LIMITS = ServiceLimits(
    max_texts=4, max_text_chars=200, max_batch=16, max_wait_ms=20, max_upload_bytes=4000
)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model=model, limits=LIMITS)) as test_client:
        yield test_client


def test_health_models_and_labels(client, model):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/v1/labels").json() == {"labels": list(model.labels)}
    info = client.get("/v1/model").json()
    assert info["backbone"] == "lstm" and info["thresholds"]["global"] == model.threshold_
    assert info["limits"]["max_texts"] == 4
    assert "/v1/annotate" in client.get("/openapi.json").json()["paths"]
    assert "<textarea" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200


def test_annotate_returns_every_label_the_macro_and_micro_emotions(client, model):
    response = client.post("/v1/annotate", json={"texts": ["I love it", ""], "threshold": 0.0})
    assert response.status_code == 200
    body = response.json()
    first, empty = body["results"]
    assert set(first["energies"]) == set(model.labels)
    energies = model.energies("I love it")[0]
    assert first["macro_emotion"] == model.labels[int(energies.argmax())]
    assert all(m["label"] != first["macro_emotion"] for m in first["micro_emotions"])
    assert empty["flag"] == "empty" and empty["macro_emotion"] == ""
    assert body["threshold"] == 0.0


def test_thresholded_against_raw(client, model):
    high = client.post("/v1/annotate", json={"texts": ["so scared"], "threshold": 9.99}).json()
    raw = client.post(
        "/v1/annotate", json={"texts": ["so scared"], "threshold": 9.99, "raw": True}
    ).json()
    macro = high["results"][0]["macro_emotion"]
    zeros = [v for k, v in high["results"][0]["energies"].items() if k != macro]
    assert all(v == 0 for v in zeros) and high["results"][0]["micro_emotions"] == []
    # raw shows the model's energies for every label, rounded as written
    expected = model.energies("so scared")[0]
    shown = raw["results"][0]["energies"]
    assert [shown[label] for label in model.labels] == [round(float(v), 2) for v in expected]
    assert sum(1 for v in shown.values() if v > 0) > 1
    assert raw["results"][0]["macro_emotion"] == macro


def test_limits_give_413_and_422_with_the_limit(client):
    response = client.post("/v1/annotate", json={"texts": ["a"] * 5})
    assert response.status_code == 413
    assert response.json() == {"error": "5 texts in one request; the limit is 4", "limit": 4}
    response = client.post("/v1/annotate", json={"texts": ["ok", "x" * 201]})
    assert response.status_code == 422
    assert response.json()["error"] == "text 1 has 201 characters; the limit is 200"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"texts": ["a"', "invalid request: "),
        ('{"texts": "just a string"}', "texts: Input should be a valid list"),
        ('{"texts": [1, 2]}', "texts.0: Input should be a valid string"),
        ('{"texts": []}', "texts: List should have at least 1 item"),
        ('{"wrong": ["a"]}', "texts: Field required"),
        ('{"texts": ["a"], "threshold": "high"}', "threshold: Input should be a valid number"),
        ('{"texts": ["a"], "threshold": -1}', "threshold: Input should be greater than or equal"),
        ('{"texts": ["a"], "colour": 1}', "colour: Extra inputs are not permitted"),
        # strict types: a quoted number, or a boolean, is a client's bug, not a number
        ('{"texts": ["a"], "threshold": "5"}', "threshold: Input should be a valid number"),
        ('{"texts": ["a"], "threshold": true}', "threshold: Input should be a valid number"),
        ('{"texts": ["a"], "raw": "true"}', "raw: Input should be a valid boolean"),
        ('{"texts": ["a"], "raw": 1}', "raw: Input should be a valid boolean"),
        ("[1, 2]", "invalid request: "),
    ],
)
def test_bad_requests_are_422_with_a_clear_message(client, payload, message):
    response = client.post(
        "/v1/annotate", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert message in response.json()["error"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(client):
    limit = LIMITS.max_json_bytes
    body = '{"texts": ["' + "a" * (limit + 10) + '"]}'
    response = client.post(
        "/v1/annotate", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": f"the request body is larger than the limit of {limit} bytes",
        "limit": limit,
    }
    response = client.post(
        "/v1/explain", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_csv_upload(client, model):
    frame = pd.DataFrame({"id": [1, 2], "body": ["I love it", "so scared"]})
    files = {"file": ("notes.csv", frame.to_csv(index=False), "text/csv")}
    response = client.post("/v1/annotate/csv", files=files, data={"text_col": "body"})
    assert response.status_code == 200
    assert 'filename="notes.eqn.csv"' in response.headers["content-disposition"]
    result = pd.read_csv(io.StringIO(response.text))
    assert list(result.columns[:2]) == ["id", "body"] and "macro_emotion" in result.columns
    assert len(result) == 2 and "2 rows" in response.headers["x-eqn-summary"]


def test_csv_upload_errors(client):
    frame = pd.DataFrame({"body": ["hi"]}).to_csv(index=False)
    response = client.post("/v1/annotate/csv", files={"file": ("a.csv", frame, "text/csv")})
    assert response.status_code == 422
    assert response.json()["error"] == (
        "column 'text' not found in 'a.csv'; found columns: 'body'. Set text_col to one of them"
    )
    big = "text\n" + "hello there\n" * 500
    response = client.post("/v1/annotate/csv", files={"file": ("a.csv", big, "text/csv")})
    assert response.status_code == 413 and response.json()["limit"] == 4000
    response = client.post("/v1/annotate/csv", files={"file": ("a.csv", "", "text/csv")})
    assert response.status_code == 422 and "'a.csv' is empty" in response.json()["error"]
    response = client.post("/v1/annotate/csv")
    assert response.status_code == 422 and "file: Field required" in response.json()["error"]


def test_concurrent_requests_are_micro_batched(client):
    holder = client.app.state.holder
    before = holder.serving().batcher.batches
    results, barrier = [], threading.Barrier(8)

    def call(i):
        barrier.wait()
        results.append(client.post("/v1/annotate", json={"texts": [f"text number {i}"]}))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.status_code == 200 for r in results)
    assert holder.serving().batcher.batches - before < 8


def test_a_model_that_fails_to_load_reports_it(tmp_path):
    with TestClient(create_app(model_path=tmp_path / "absent")) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "error"
        response = client.post("/v1/annotate", json={"texts": ["a"]})
        assert response.status_code == 503 and "not an eqn model folder" in response.json()["error"]


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_texts must be positive"):
        ServiceLimits(max_texts=0)
    with pytest.raises(ValueError, match="max_wait_ms must be >= 0"):
        ServiceLimits(max_wait_ms=-1)


@pytest.mark.parametrize("threshold", ["11", "-1", "1e999", "-1e999", "NaN", "Infinity"])
def test_thresholds_off_the_scale_are_422(client, threshold):
    body = '{"texts": ["I love it"], "threshold": ' + threshold + "}"
    response = client.post(
        "/v1/annotate", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "threshold" in response.json()["error"]


def test_uncalibrated_energies_on_request(client, model):
    calibrated = client.post("/v1/annotate", json={"texts": ["so scared"], "raw": True}).json()
    own = client.post(
        "/v1/annotate", json={"texts": ["so scared"], "raw": True, "calibrated": False}
    ).json()
    assert calibrated["calibrated"] is True and own["calibrated"] is False
    assert own["threshold"] == model.threshold_ != calibrated["threshold"]
    expected = model.energies("so scared", calibrated=False)[0]
    shown = own["results"][0]["energies"]
    assert [shown[label] for label in model.labels] == [round(float(v), 2) for v in expected]
    assert calibrated["provenance"]["model_hash"] == model.model_hash


def test_one_bad_request_never_fails_the_others(client):
    import json

    results = {}

    def call(i):
        texts = ["fine", "\ud800 broken"] if i == 3 else [f"I am glad {i}"]
        body = json.dumps({"texts": texts})  # json keeps the lone surrogate as an escape
        results[i] = client.post(
            "/v1/annotate", content=body, headers={"Content-Type": "application/json"}
        )

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[3].status_code == 422 and "lone UTF-16 surrogate" in results[3].text
    assert all(results[i].status_code == 200 for i in range(8) if i != 3)


def test_uploads_have_a_row_cap_a_name_in_any_script_and_security_headers(model):
    limits = ServiceLimits(max_upload_rows=5, max_upload_bytes=100_000)
    with TestClient(create_app(model=model, limits=limits)) as client:
        rows = "text\n" + "I love it\n" * 6
        response = client.post("/v1/annotate/csv", files={"file": ("a.csv", rows, "text/csv")})
        assert response.status_code == 413 and "more than 5 rows" in response.json()["error"]
        fine = client.post(
            "/v1/annotate/csv", files={"file": ("感情データ.csv", "text\nI love it\n", "text/csv")}
        )
        assert fine.status_code == 200, fine.text
        assert "filename*=UTF-8''%E6%84%9F" in fine.headers["content-disposition"]
        assert "default-src 'self'" in fine.headers["content-security-policy"]
        page = client.get("/")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_explain_endpoint(tiny_bert):
    from eqn.data import Dataset
    from tests.conftest import SENTENCES

    data = Dataset.from_lists([t for t, _ in SENTENCES], [lbl.split(",") for _, lbl in SENTENCES])
    options = {"model_name_or_path": str(tiny_bert), "finetune": "lora", "max_length": 16}
    transformer = EQN(backbone="transformer", backbone_options=options, epochs=1).fit(
        data, data, progress=False
    )
    with TestClient(create_app(model=transformer, limits=LIMITS)) as client:
        body = client.post(
            "/v1/explain", json={"text": "I love it so much", "label": "love"}
        ).json()
        assert body["label"] == "love" and [t["token"] for t in body["tokens"]] == [
            "I",
            "love",
            "it",
            "so",
            "much",
        ]
        bad = client.post("/v1/explain", json={"text": "I love it", "label": "nope"})
        assert bad.status_code == 422 and "unknown label 'nope'" in bad.json()["error"]


def test_a_swapped_model_answers_from_the_next_request(client, model, tiny_transformer_dir):

    from eqn.model.runtime import load_model

    holder = client.app.state.holder
    first = client.post("/v1/annotate", json={"texts": ["I love it"]}).json()
    other = load_model(tiny_transformer_dir, runtime="torch")
    try:
        client.portal.call(_swap, holder, other)
        second = client.post("/v1/annotate", json={"texts": ["I love it"]}).json()
        assert second["provenance"]["model_hash"] == other.model_hash
        assert second["provenance"]["model_hash"] != first["provenance"]["model_hash"]
        assert client.get("/v1/model").json()["model_hash"] == other.model_hash
    finally:
        client.portal.call(_swap, holder, model)


async def _swap(holder, model):
    holder.swap(model)


def test_upload_names_with_control_characters_get_a_clean_header():
    from eqn.service.uploads import attachment

    header = attachment("a\x00b\tc\x1b\x7f.eqn.csv")
    assert all(ord(c) >= 32 and ord(c) != 127 for c in header)
    assert 'filename="a_b_c__.eqn.csv"' in header


def test_every_error_has_the_one_error_body(client):
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    wrong = client.get("/v1/annotate")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
    assert "allow" in {k.lower() for k in wrong.headers}
