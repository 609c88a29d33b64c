from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from memories.errors import ModelError
from memories.optimization.predictive import cli


def _run(*arguments: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    parsed = parser.parse_args(arguments)
    return int(parsed.handler(parsed))


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "access.csv"
    rows = [f"{(index * 7) % 13},{1_700_000_000 + index}" for index in range(400)]
    path.write_text("key,time\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("model", ["lstm", "markov"])
def test_train_then_eval_prints_a_comparison_table(
    model: str, trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.onnx"
    assert _run("train-predictor", "--trace", str(trace), "--model", model, "--out", str(out), "--epochs", "2") == 0
    assert _run("eval-predictor", "--trace", str(trace), "--model", str(out), "--cache-shares", "0.2") == 0
    table = capsys.readouterr().out
    assert "no prefetch" in table and "markov" in table and f"{model} (model)" in table
    assert ("lstm+markov" in table) == (model == "lstm")


def test_eval_with_missing_model_is_model_error(trace: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        _run("eval-predictor", "--trace", str(trace), "--model", str(tmp_path / "none.onnx"))
