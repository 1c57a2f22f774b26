import json
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

import eqn.annotation.files as A
from eqn.annotation.label_studio import labeling_config
from eqn.model.estimator import EQN


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


def test_label_studio_tasks_and_config_import_together(model, tmp_path):
    path = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2, 3], "text": ["I love it", "", "so scared"]}).to_csv(
        path, index=False
    )
    A.annotate_file(model, path, fmt="label-studio", chunk_rows=2, progress=False)
    tasks = json.loads((tmp_path / "in.eqn.json").read_text())
    assert len(tasks) == 3
    config = ET.fromstring(labeling_config(model.labels))
    choices = config.find("Choices")
    names = {c.get("value") for c in choices.findall("Choice")}
    assert names == set(model.labels)
    for task in tasks:
        assert set(task) == {"data", "predictions"} and "text" in task["data"]
        assert task["data"]["id"] in ("1", "2", "3")
        prediction = task["predictions"][0]
        assert prediction["model_version"].startswith("eqn ") and 0 <= prediction["score"] <= 1
        for result in prediction["result"]:
            assert result["from_name"] == choices.get("name")
            assert result["to_name"] == config.find("Text").get("name")
            assert result["type"] == "choices" and set(result["value"]["choices"]) <= names
    assert tasks[1]["predictions"][0]["result"] == []  # the empty text has no emotion
    first = tasks[0]["predictions"][0]["result"][0]["value"]["choices"]
    macro = model.annotate("I love it").loc[0, "macro_emotion"]
    assert first[0] == macro
