"""The benchmark runner: its list, its workflows and the stamp on every speed result."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

RUNNER = ROOT / "benchmarks" / "run.py"


def test_the_runner_lists_speed_benchmarks_and_workflows():
    listed = subprocess.run(
        [sys.executable, str(RUNNER), "list"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("speed annotate", "speed serve", "workflow energy-validity", "workflow table3"):
        assert name in listed


def _runner():
    sys.path.insert(0, str(RUNNER.parent))
    try:
        import run
    finally:
        sys.path.pop(0)
    return run


def test_every_step_names_a_script_that_exists():
    run = _runner()
    for command, _, _ in run.SPEED.values():
        assert (ROOT / command.split()[1]).is_file(), command
    for _, steps in run.WORKFLOWS.values():
        for step in steps:
            script = next(word for word in step.split() if word.startswith("benchmarks/"))
            assert (ROOT / script).is_file(), step


def test_a_stamp_says_what_and_where():
    stamp = _runner().stamp("python benchmarks/x.py")
    assert stamp["model"] == "goemotions-minilm-eqn" and len(stamp["model_hash"]) == 16
    assert stamp["default_runtime"] == "onnx-int8" and stamp["machine"]["cpu_cores"] >= 1
    assert len(stamp["git_commit"]) in (0, 40) and stamp["eqn_version"]


def _script(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_benchmark_runs_on_the_cpu(tiny_transformer_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("I love it\nso sad today\nwhat a surprise\nfine, thanks\n")
    out = tmp_path / "gpu.json"
    result = _script("gpu_throughput").main(
        [
            *("--model", str(tiny_transformer_dir), "--text-file", str(texts)),
            *("--device", "cpu", "--texts", "24", "--batch-sizes", "8", "--repeats", "1"),
            *("--precisions", "fp32", "bf16", "--out", str(out)),
        ]
    )
    rows = result["rows"]
    assert [r["precision"] for r in rows] == ["fp32", "bf16"]
    assert rows[0]["max_energy_diff_vs_fp32_on_dev"] == 0.0 and rows[0]["usable"]
    assert all(r["end_to_end_texts_per_s"] > 0 and r["encoder_texts_per_s"] > 0 for r in rows)
    assert result["texts"] == 24 and out.is_file()


def test_the_recipe_rule_ranks_on_dev_within_the_cost_limit():
    study = _script("recipe_study")
    mean_dev = {
        "M": {"xed": 0.50, "goemotions": 0.50},
        "EQN": {"xed": 0.49, "goemotions": 0.48},
        "student-M": {"xed": 0.52, "goemotions": 0.49},
        "costly": {"xed": 0.60, "goemotions": 0.60},
        "student-M-gold0.25": {"xed": 0.70, "goemotions": 0.70},  # not the chosen weight
        "student-M-gold0.5": {"xed": 0.51, "goemotions": 0.51},
    }
    cost = {recipe: {"xed": 1.0, "goemotions": 1.0} for recipe in mean_dev}
    cost["costly"]["goemotions"] = 4.5
    outcome, best = study.rule_outcome(mean_dev, cost, "0.5")
    # gold0.5 ranks (2, 1), student-M (1, 3), M (3, 2): gold0.5 has the best mean rank
    assert outcome[-1] == "Rule outcome: **student-M-gold0.5**." and best == "student-M-gold0.5"
    assert not any("costly" in line or "gold0.25" in line for line in outcome)


def test_the_loop_simulation_reads_label_savings_off_a_curve():
    simulation = _script("loop_simulation")
    curve = {1000: 0.30, 2000: 0.40, 3000: 0.50}
    assert simulation.labels_to_reach(curve, 0.45) == pytest.approx(2500)
    assert simulation.labels_to_reach(curve, 0.30) == 1000
    assert simulation.labels_to_reach(curve, 0.60) is None


def test_the_loop_simulations_rule_picks_the_strategy_needing_fewer_labels():
    simulation = _script("loop_simulation")
    random_curve = {1000: 0.30, 2000: 0.40, 3000: 0.50}
    dev = {
        "random": random_curve,
        "uncertainty": {1000: 0.30, 2000: 0.45, 3000: 0.55},  # reaches 0.50 at 2500
        "diverse": {1000: 0.30, 2000: 0.50, 3000: 0.52},  # at 2000
    }
    seeds = {strategy: dict.fromkeys(curve, 3) for strategy, curve in dev.items()}
    assert "**diverse** (2000 labels" in simulation.rule_outcome(dev, seeds)
    seeds["random"][3000] = 2  # a seed still running: no choice from unequal means
    assert "fewer seeds" in simulation.rule_outcome(dev, seeds)
    seeds["random"][3000] = 3
    dev["diverse"] = {1000: 0.30, 2000: 0.35}
    assert "not yet" in simulation.rule_outcome(dev, seeds)
    dev["diverse"] = {1000: 0.30, 2000: 0.35, 3000: 0.40}
    dev["uncertainty"] = {1000: 0.30, 2000: 0.35, 3000: 0.45}
    assert "did not beat choosing at random" in simulation.rule_outcome(dev, seeds)


def test_the_recipe_studys_short_table_reads_run_folders(tmp_path):
    import json

    study = _script("recipe_study")
    test = {"thresholded": {"global": {"macro": {"f1": 0.5}}}}
    test["paper"] = {"per_label": {"macro": {"f1": 0.6}}}
    for seed, f1 in ((0, 0.40), (1, 0.44)):
        folder = tmp_path / "xed" / f"seed{seed}" / "M"
        folder.mkdir(parents=True)
        test["thresholded"]["global"]["macro"]["f1"] = f1
        stage = {"metrics": {"test": test}, "history": [{"dev_score": 0.3}]}
        (folder / "run.json").write_text(json.dumps({"stages": {"M": stage}}))
    table = study.short_table(tmp_path)
    assert "| plain | – | 0.4200 ± 0.0400 | – | 2/0 | 1 |" in table  # no rank: one corpus
    assert "No other recipe to compare" in table
    test["thresholded"]["global"]["macro"]["f1"] = 0.45
    stage = {"metrics": {"test": test}, "history": [{"dev_score": 0.3}]}
    folder = tmp_path / "xed" / "seed0" / "EQN"
    folder.mkdir(parents=True)
    record = {"stages": {"eqn": stage, "coeqn": {}}}
    (folder / "run.json").write_text(json.dumps(record))
    assert "above the plain classifier's: on xed, paper +0.0300." in study.short_table(tmp_path)
    assert all(library in study.RECIPES for library in study.LIBRARY_NAMES)


def test_two_recipe_study_workers_never_train_the_same_model(tmp_path, monkeypatch):
    import fcntl
    import json

    study = _script("recipe_study")
    trained = []

    def train(folder, options):
        trained.append(folder.relative_to(tmp_path).as_posix())
        stage = "M" if folder.name == "M" else "eqn"
        record = {"stages": {stage: {"metrics": {}, "history": [{"dev_score": 0.5}]}}}
        (folder / "run.json").write_text(json.dumps(record))
        return True

    monkeypatch.setattr(study, "train", train)
    monkeypatch.setattr(study, "RECIPES", {k: study.RECIPES[k] for k in ("M", "EQN", "EQN-warm")})
    # Another worker holds xed's EQN: this one trains the rest, and waits on EQN-warm,
    # which reuses EQN's Model 1.
    busy = tmp_path / "xed" / "seed0" / "EQN"
    busy.mkdir(parents=True)
    with open(busy / ".study.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started, waiting = study.run_pass(tmp_path, [0], [], set())
    assert "xed/seed0/EQN" not in trained and "xed/seed0/EQN-warm" not in trained
    assert {"xed/seed0/M", "goemotions/seed0/EQN-warm"} <= set(trained)
    assert (started, waiting) == (len(trained), 2)
    # Released: the next pass trains what was waiting, and nothing twice.
    study.run_pass(tmp_path, [0], [], set())
    assert sorted(trained) == sorted(set(trained)) and len(trained) == 6
    # --only reruns the runs named, in another folder, and nothing else.
    trained.clear()
    study.run_pass(tmp_path / "rerun", [0, 1], [], set(), only=["xed/M"])
    assert trained == ["rerun/xed/seed0/M", "rerun/xed/seed1/M"]


def _write_loop_run(folder):
    """A finished round's run.json, as the loop simulation reads it."""
    import json

    stage = {"metrics": {"test": {"thresholded": {"global": {"macro": {"f1": 0.4}}}}}}
    stage["history"] = [{"dev_score": 0.4}]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"stages": {"M": stage}}))


def _loop_simulation_with(run_chain, tmp_path, monkeypatch):
    """The loop simulation with ``run_chain`` faked and no training: (module, its args)."""
    import argparse

    simulation = _script("loop_simulation")

    class Splits:
        train = list(range(50))

        def limit(self, *_):
            return self

    monkeypatch.setattr(simulation, "train_round", lambda *a: _write_loop_run(a[2]))
    monkeypatch.setattr(simulation, "run_chain", run_chain)
    monkeypatch.setattr(simulation, "last_stage", lambda recipe: "M")
    monkeypatch.setattr("eqn.data.load_dataset", lambda *a, **k: Splits())
    args = argparse.Namespace(
        runs=tmp_path, seeds=[0], start=10, last=30, recipe="plain", data_dir=tmp_path, max_eval=0
    )
    return simulation, args


def test_a_loop_simulation_worker_leaves_a_claimed_chain_to_its_owner(tmp_path, monkeypatch):
    chains = []

    def run_chain(splits, seed, strategy, args, rounds=None):
        chains.append((seed, strategy))
        _write_loop_run(args.runs / f"seed{seed}" / strategy / f"labels{args.last}")

    simulation, args = _loop_simulation_with(run_chain, tmp_path, monkeypatch)
    with simulation.claimed(tmp_path / "seed0" / "diverse.lock") as mine:
        assert mine
        with simulation.claimed(tmp_path / "seed0" / "diverse.lock") as theirs:
            assert not theirs  # a second claim on a held lock fails, even in one process

        class Waits(Exception):
            pass

        def sleep(seconds):
            raise Waits

        monkeypatch.setattr(simulation.time, "sleep", sleep)
        with pytest.raises(Waits):  # it waits for the claimed chain, having done the rest
            simulation.run(args)
    assert chains == [(0, "uncertainty"), (0, "random")]
    simulation.run(args)  # released: only the claimed chain is left to do
    assert chains[-1] == (0, "diverse") and len(chains) == 3


def test_loop_simulation_workers_take_one_round_at_a_time_from_the_least_advanced_chain(
    tmp_path, monkeypatch
):
    trained = []

    def run_chain(splits, seed, strategy, args, rounds=None):
        assert rounds == 1  # a claim is one round, so no worker owns a whole chain
        base = args.runs / f"seed{seed}" / strategy
        size = next(n for n in (20, 30) if not (base / f"labels{n}" / "run.json").exists())
        _write_loop_run(base / f"labels{size}")
        trained.append((strategy, size))

    simulation, args = _loop_simulation_with(run_chain, tmp_path, monkeypatch)
    _write_loop_run(tmp_path / "seed0" / "start" / "labels10")
    _write_loop_run(tmp_path / "seed0" / "random" / "labels20")
    simulation.run(args)
    assert trained == [
        ("uncertainty", 20),
        ("diverse", 20),
        ("uncertainty", 30),
        ("diverse", 30),
        ("random", 30),
    ]


def test_the_recipe_table_calls_its_outcome_provisional_until_every_run_is_done(tmp_path):
    import json

    study = _script("recipe_study")
    test = {"thresholded": {"global": {"macro": {"f1": 0.5}}}}
    test["paper"] = {"per_label": {"macro": {"f1": 0.6}}}
    for corpus in study.CORPORA:
        folder = tmp_path / corpus / "seed0" / "M"
        folder.mkdir(parents=True)
        stage = {"metrics": {"test": test}, "history": [{"dev_score": 0.3}]}
        (folder / "run.json").write_text(json.dumps({"stages": {"M": stage}}))
    text = study.table(tmp_path, [0])
    assert "Provisional, on the runs so far: **M**." in text and "Rule outcome" not in text
    assert "xed/seed0/EQN," in text and "xed/seed0/M," not in text
    assert "eqn train DATA` uses" not in text  # consequences wait for the outcome


def test_the_rule_makes_select_best_the_default_when_its_choice_trails_m_on_test():
    study = _script("recipe_study")

    def runs(*scores):
        return [{"test_macro_f1": score} for score in scores]

    rows = {("xed", "M"): runs(0.50, 0.52), ("goemotions", "M"): runs(0.50)}
    rows |= {("xed", "EQN-warm"): runs(0.52, 0.51), ("goemotions", "EQN-warm"): runs(0.55)}
    said = " ".join(study.consequences(rows, "EQN-warm"))
    assert "uses `--recipe paper-warm`" in said and "`--select eqn` stays" in said
    rows[("goemotions", "EQN-warm")] = runs(0.49)
    said = " ".join(study.consequences(rows, "EQN-warm"))
    assert "below M's on goemotions (0.4900 against M's 0.5000): `--select best`" in said
