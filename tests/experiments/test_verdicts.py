"""What a user hears about a trained model."""

from eqn.experiments.verdicts import verdict


def test_the_verdict_says_plainly_whether_a_model_is_usable():
    def record(best):
        return {"stages": {"eqn": {"model": "runs/x/eqn", "dev": {"best": best, "chance": 0.2}}}}

    assert verdict(record(0.205), "eqn").startswith("NOT USABLE: runs/x/eqn scored 0.205")
    good = verdict(record(0.45), "eqn")
    assert good.startswith("usable: runs/x/eqn scored 0.450") and "-m runs/x/eqn" in good
    assert "nothing says" in verdict({"stages": {"eqn": {"model": "m"}}}, "eqn")
