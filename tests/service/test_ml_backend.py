"""The Label Studio ML backend protocol at the server's root: any tag names, one
prediction per task, unknown choices refused by name, unknown keys ignored."""

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eqn.annotation.label_studio import labeling_config  # noqa: E402
from eqn.errors import InputError  # noqa: E402
from eqn.model.estimator import EQN  # noqa: E402
from eqn.service import create_app  # noqa: E402


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model=model, preload_explainer=False)) as test_client:
        yield test_client


def project_config(labels):
    """A project's own names: Text "body" over $review, Choices "emo"."""
    return (
        labeling_config(labels)
        .replace('name="text" value="$text"', 'name="body" value="$review"')
        .replace('name="emotion" toName="text"', 'name="emo" toName="body"')
    )


def test_health_names_the_model_version(client, model):
    answer = client.get("/health").json()
    assert answer["status"] == "UP" and model.model_hash in answer["model_version"]


def test_setup_reads_any_tag_names_and_refuses_unknown_choices(client, model):
    config = project_config(model.labels)
    answer = client.post("/setup", json={"project": "7.1", "schema": config, "hostname": "x"})
    assert answer.status_code == 200 and model.model_hash in answer.json()["model_version"]
    bad = config.replace(f'value="{model.labels[0]}"', 'value="zorblax"', 1)
    refused = client.post("/setup", json={"project": "7.1", "schema": bad})
    assert refused.status_code == 422
    assert "'zorblax', which model tiny does not know" in refused.json()["error"]
    assert "eqn label-studio-config" in refused.json()["error"]
    partial = config.replace(f'<Choice value="{model.labels[0]}"/>', "", 1)
    assert client.post("/setup", json={"project": "7.2", "schema": partial}).status_code == 200


def test_predict_gives_one_prediction_per_task_under_the_project_names(client, model):
    config = project_config(model.labels)
    tasks = [
        {"id": 1, "data": {"review": "I love it, thank you so much"}},
        {"id": 2, "data": {"review": "so scared and sad"}},
        {"id": 3, "data": {"review": ""}},
        {"id": 4, "data": {}},
    ]
    body = {"tasks": tasks, "label_config": config, "project": "7.1", "params": {"x": 1}}
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200
    out = answer.json()
    results = out["results"]
    assert len(results) == 4 and out["model_version"]
    for prediction in results[:2]:
        assert 0 <= prediction["score"] <= 1 and prediction["model_version"] == out["model_version"]
        (choice,) = prediction["result"]
        assert (choice["from_name"], choice["to_name"], choice["type"]) == (
            "emo",
            "body",
            "choices",
        )
        assert set(choice["value"]["choices"]) <= set(model.labels)
        assert set(prediction["meta"]["energies"]) == set(model.labels)
    assert results[2]["result"] == [] and results[3]["result"] == []


def test_predict_takes_more_tasks_than_a_text_request(client, model):
    tasks = [{"data": {"text": f"I love it {i}"}} for i in range(300)]
    answer = client.post("/predict", json={"tasks": tasks})
    assert answer.status_code == 200 and len(answer.json()["results"]) == 300


def test_a_config_that_is_not_xml_is_a_clear_error(client):
    answer = client.post("/predict", json={"tasks": [], "label_config": "<View"})
    assert answer.status_code == 422 and "not valid XML" in answer.json()["error"]


def test_training_is_off_unless_asked(client):
    answer = client.post("/train", json={"annotations": [{"data": {}}], "project": "1"})
    assert answer.status_code == 403 and "without allowing training" in answer.json()["error"]
    assert client.get("/is_training?project=1").json() == {"is_training": False}


def test_train_makes_a_new_version_that_answers_next(tiny_model_dir, tmp_path):
    import json
    import time

    from eqn.service.training import LOG, TrainingSettings

    model = EQN.load(tiny_model_dir)
    labels = model.labels
    tasks = [
        {
            "id": i,
            "data": {"review": f"I feel {labels[i % len(labels)]} about this, case {i}"},
            "annotations": [
                {
                    "completed_by": 1,
                    "result": [
                        {"type": "choices", "value": {"choices": [labels[i % len(labels)]]}}
                    ],
                }
            ],
        }
        for i in range(30)
    ]
    settings = TrainingSettings(tmp_path / "versions", keep=2, epochs=1)
    app = create_app(model=model, preload_explainer=False, training=settings)
    with TestClient(app) as client:
        first = client.get("/health").json()["model_version"]
        config = project_config(labels)
        answer = client.post(
            "/train", json={"annotations": tasks, "project": "3", "label_config": config}
        )
        assert answer.status_code == 200, answer.text
        assert client.get("/is_training?project=3").json() == {"is_training": True}
        for _ in range(240):
            if not client.get("/is_training?project=3").json()["is_training"]:
                break
            time.sleep(0.5)
        line = json.loads((tmp_path / "versions" / LOG).read_text().splitlines()[-1])
        assert line["project"] == "3" and line["base"] == model.model_hash, line

        def version(project):
            request = {"tasks": tasks[:1], "label_config": config, "project": project}
            return client.post("/predict", json=request).json()["model_version"]

        # Label Studio names the project "3.TIMESTAMP" in predictions: the same project.
        assert (version("3.1700000000") != first) == line["accepted"], line
        assert version("4.1700000000") == first  # another project keeps the served model
        assert client.get("/health").json()["model_version"] == first
    # A restart serves project 3's accepted version to project 3 only.
    again = create_app(model=model, preload_explainer=False, training=settings)
    with TestClient(again) as client:
        assert (version("3") != first) == line["accepted"] and version("4") == first


def test_new_annotations_start_a_job_after_train_after(tiny_model_dir, tmp_path, monkeypatch):
    from eqn.service import ml_backend
    from eqn.service.training import TrainingSettings

    started = []

    async def start(project, tasks, field):
        started.append((project, len(tasks)))
        return "job"

    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "token")
    monkeypatch.setattr(ml_backend, "fetch_export", lambda url, key, project: [{"id": 1}])
    model = EQN.load(tiny_model_dir)
    settings = TrainingSettings(tmp_path / "versions", train_after=3)
    with TestClient(create_app(model=model, preload_explainer=False, training=settings)) as c:
        monkeypatch.setattr(c.app.state.training, "start", start)
        event = {"action": "ANNOTATION_CREATED", "project": {"id": 7}, "annotation": {"id": 1}}
        answers = [c.post("/webhook", json=event).json() for _ in range(3)]
        assert [a["status"] for a in answers] == ["counted", "counted", "started"]
        assert answers[1]["new_annotations"] == 2 and started == [("7", 1)]
        ignored = c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 7}})
        assert ignored.json()["status"] == "ignored"
    settings = TrainingSettings(tmp_path / "versions")  # train_after 0: counting is off
    with TestClient(create_app(model=model, preload_explainer=False, training=settings)) as c:
        assert c.post("/webhook", json=event).json()["status"] == "ignored"
    with pytest.raises(InputError, match="train_after must be 0 or more, got -1"):
        TrainingSettings(tmp_path, train_after=-1)


def test_basic_auth_guards_label_studios_routes_only(model):
    import base64

    app = create_app(model=model, preload_explainer=False, basic_auth="ls:secret")
    with TestClient(app) as client:
        refused = client.get("/health")
        assert refused.status_code == 401 and "basic auth" in refused.json()["error"]
        token = base64.b64encode(b"ls:secret").decode()
        allowed = client.get("/health", headers={"Authorization": f"Basic {token}"})
        assert allowed.status_code == 200 and allowed.json()["status"] == "UP"
        assert client.get("/healthz").status_code == 200  # eqn's own API is not guarded


def test_a_restart_finds_the_last_accepted_version(tmp_path):
    import json

    from eqn.service.training import LOG, latest_accepted

    assert latest_accepted(tmp_path, "served") == {}
    for name in ("a", "b", "c"):
        (tmp_path / "p" / name / "run" / "eqn").mkdir(parents=True)
        (tmp_path / "p" / name / "run" / "eqn" / "config.json").write_text("{}")
    lines = [
        {"project": "1.1700000000", "folder": str(tmp_path / "p" / "a"), "accepted": True},
        {"project": "1", "folder": str(tmp_path / "p" / "b"), "accepted": False},
        {"project": "2", "folder": str(tmp_path / "p" / "c"), "accepted": True},
    ]
    lines = [line | {"base": "served"} for line in lines]
    # A version trained from another model is not served in place of this one.
    lines.append({"project": "2", "folder": str(tmp_path / "p" / "b"), "accepted": True})
    lines[-1]["base"] = "another"
    (tmp_path / LOG).write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert latest_accepted(tmp_path, "served") == {
        "1": tmp_path / "p" / "a" / "run" / "eqn",
        "2": tmp_path / "p" / "c" / "run" / "eqn",
    }
    assert latest_accepted(tmp_path, "another") == {"2": tmp_path / "p" / "b" / "run" / "eqn"}


def _predict_with_a_broken_version_logged(model, tmp_path, project, base):
    """A versions log naming an unloadable version of ``project`` trained from ``base``;
    the served model's version and the one that answered the project's prediction."""
    import json

    from eqn.service.training import LOG, TrainingSettings

    version = tmp_path / project / "stamp" / "run" / "eqn"
    version.mkdir(parents=True)
    (version / "config.json").write_text("{}")
    line = {"project": project, "folder": str(version.parents[1]), "accepted": True, "base": base}
    (tmp_path / LOG).write_text(json.dumps(line) + "\n")
    settings = TrainingSettings(tmp_path)
    with TestClient(create_app(model=model, preload_explainer=False, training=settings)) as c:
        served = c.get("/health").json()["model_version"]
        task = {"id": 1, "data": {"text": "what a day"}}
        answer = c.post("/predict", json={"tasks": [task], "project": f"{project}.1700000000"})
        assert answer.status_code == 200
        return served, answer.json()["model_version"]


def test_a_projects_damaged_version_falls_back_to_the_served_model(model, tmp_path, caplog):
    served, answered = _predict_with_a_broken_version_logged(model, tmp_path, "5", model.model_hash)
    assert answered == served
    assert "project 5: could not load its version" in caplog.text


def test_a_server_given_another_model_does_not_serve_versions_of_the_old_one(
    model, tmp_path, caplog
):
    served, answered = _predict_with_a_broken_version_logged(model, tmp_path, "6", "old")
    assert answered == served
    assert "could not load" not in caplog.text  # it was not even tried


def test_train_refuses_tasks_it_cannot_read_before_any_job(model, tmp_path):
    from eqn.service.training import TrainingSettings

    settings = TrainingSettings(tmp_path / "versions")
    tasks = [{"id": 4, "data": {"text": "hm"}, "annotations": [{"result": [{"type": "choices"}]}]}]
    with TestClient(create_app(model=model, preload_explainer=False, training=settings)) as c:
        answer = c.post("/train", json={"annotations": tasks, "project": "2"})
        assert answer.status_code == 422
        assert "task 4: an annotation's result is not Label Studio's" in answer.json()["error"]
        assert c.get("/is_training?project=2").json() == {"is_training": False}
