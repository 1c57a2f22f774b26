"""Both Ray paths on a simulated multi-node cluster: three nodes of one CPU each, small
object stores, a model that returns zeros. Rows come back complete and in order."""

import json
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
ray = pytest.importorskip("ray")
sys.path.insert(0, str(ROOT / "benchmarks"))
import zeros_model  # noqa: E402

from eqn.annotation.files import annotate_file  # noqa: E402
from eqn.annotation.options import AnnotateOptions  # noqa: E402
from eqn.annotation.ray_data import RUN_RECORD, RayDataEngine, annotate_blocks  # noqa: E402
from eqn.annotation.ray_engine import RayEngine  # noqa: E402

ROWS = 3000
OPTIONS = AnnotateOptions(chunk_rows=250, progress=False)


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # Workers on the other nodes unpickle the zeros model by value: no import path needed.
    ray.cloudpickle.register_pickle_by_value(zeros_model)
    store = 80 * 1024 * 1024
    simulated = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": store}
    )
    for _ in range(2):
        simulated.add_node(num_cpus=1, object_store_memory=store)
    ray.init(address=simulated.address, include_dashboard=False, log_to_driver=False)
    yield simulated
    ray.shutdown()
    simulated.shutdown()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("cluster") / "in.csv"
    ids = [f"{i:05d}" for i in range(ROWS)]
    pd.DataFrame({"id": ids, "text": [f"sentence number {i}" for i in range(ROWS)]}).to_csv(
        path, index=False
    )
    return path


def test_the_cluster_has_three_nodes(cluster):
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3


def test_blocks_on_three_nodes_keep_every_row_in_order(cluster, source, tmp_path):
    model = zeros_model.ZerosModel()
    engine = RayDataEngine(zeros_model.ZerosLoader(), actors=3)
    summary = annotate_blocks(model, [str(source)], str(tmp_path / "out"), OPTIONS, engine)
    parts = sorted((tmp_path / "out").glob("part-*.csv"))
    written = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts])
    assert summary.rows == ROWS and len(parts) > 3
    assert written["id"].tolist() == [f"{i:05d}" for i in range(ROWS)]
    assert json.loads((tmp_path / "out" / RUN_RECORD).read_text())["summary"]["rows"] == ROWS


def test_the_chunk_engine_on_three_nodes_matches_the_local_engine(cluster, source, tmp_path):
    model = zeros_model.ZerosModel()
    engine = RayEngine(None, "zeros", "cpu", actors=3, loader=zeros_model.ZerosLoader())
    try:
        annotate_file(model, source, tmp_path / "ray.csv", OPTIONS, engine=engine)
    finally:
        engine.close()
    annotate_file(model, source, tmp_path / "local.csv", OPTIONS)
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
