"""AnnotateOptions: one validated object, and no route that drops a field."""

import dataclasses

import pandas as pd
import pytest

import eqn.annotation.files as A
from eqn.annotation.options import AnnotateOptions
from eqn.annotation.texts import AnnotationSummary
from eqn.errors import ConfigError, InputError
from eqn.model.estimator import EQN


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"threshold": 11}, "threshold must be a finite number from 0 to 10"),
        ({"fmt": "xlsx"}, "unknown output format 'xlsx'"),
        ({"chunk_rows": 0}, "chunk_rows must be at least 1"),
        ({"batch_size": -2}, "batch_size must be at least 1"),
        ({"max_rows": 0}, "max_rows must be at least 1"),
        ({"encoding": "no-such-encoding"}, "unknown text encoding 'no-such-encoding'"),
        ({"sep": ";;"}, "the field separator must be one character"),
        ({"text_col": ""}, "text_col must name a column"),
    ],
)
def test_bad_options_are_refused_once_by_name(change, message):
    with pytest.raises(InputError, match=message) as caught:
        AnnotateOptions(**change)
    assert caught.value.parameter == next(iter(change))


def test_options_are_frozen_and_replace_checks_names():
    options = AnnotateOptions(text_col="body")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.text_col = "x"  # type: ignore[misc]
    assert options.replace(threshold=3).threshold == 3.0
    with pytest.raises(ConfigError, match="unknown annotation option 'texcol'"):
        options.replace(texcol="x")


def test_stdout_gets_every_option_a_file_gets(model, tmp_path, capsysbinary):
    path = tmp_path / "semi.csv"
    path.write_text("id;body\n1;I love it\n2;so sad\n")
    options = AnnotateOptions(text_col="body", sep=";", raw=True, batch_size=1, progress=False)
    A.annotate_file(model, path, tmp_path / "filed.csv", options)
    capsysbinary.readouterr()
    A.annotate_file(model, path, "-", options)
    assert capsysbinary.readouterr().out == (tmp_path / "filed.csv").read_bytes()


class _RecordingEngine:
    """An engine that records the options it was handed."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def map(self, chunks, source, options):
        from eqn.annotation.engines import annotate_chunk

        for chunk in chunks:
            self.seen.append(options)
            yield (chunk, *annotate_chunk(self.model, chunk, source, options))

    def close(self):
        pass


def test_an_engine_receives_the_options_whole(model, tmp_path):
    path = tmp_path / "in.csv"
    pd.DataFrame({"body": ["I love it", "so sad", "hi"]}).to_csv(path, index=False)
    engine = _RecordingEngine(model)
    A.annotate_file(model, path, "-", text_col="body", chunk_rows=2, threshold=4.0, engine=engine)
    assert len(engine.seen) == 2
    assert {(o.text_col, o.threshold, o.chunk_rows) for o in engine.seen} == {("body", 4.0, 2)}


def test_a_file_engine_reads_and_writes_by_itself(model, tmp_path):
    class WholeFile:
        def __init__(self):
            self.calls = []

        def annotate_file(self, source, target, options):
            self.calls.append((source, target, options))
            target.write_text("done\n")
            return AnnotationSummary(rows=1, outputs=[str(target)])

        def close(self):
            pass

    path = tmp_path / "in.csv"
    path.write_text("text\nhello\n")
    engine = WholeFile()
    summary = A.annotate_file(model, path, tmp_path / "out.csv", engine=engine, threshold=2.0)
    assert summary.rows == 1 and (tmp_path / "out.csv").read_text() == "done\n"
    ((_, _, options),) = engine.calls
    assert options.threshold == 2.0 and options.calibrated == model.is_calibrated
