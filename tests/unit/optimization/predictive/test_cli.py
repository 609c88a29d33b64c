from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from memories.errors import ConfigError, ModelError
from memories.optimization.predictive import cli
from memories.optimization.predictive.evaluation.simulation import simulate


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
    captured = capsys.readouterr()
    table = captured.out
    assert "no prefetch" in table and "markov" in table and f"{model} (model)" in table
    assert ("lstm+markov" in table) == (model == "lstm")
    # the agent's admission rule comes first, the unguarded one after it
    assert table.index("admission cold (agent's rule") < table.index("admission mru")
    # progress is on stderr, one plain line per replay (pytest's capture is not a terminal)
    assert "\r" not in captured.err
    assert "[1/" in captured.err and "hit ratio" in captured.err


def test_eval_with_missing_model_is_model_error(trace: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        _run("eval-predictor", "--trace", str(trace), "--model", str(tmp_path / "none.onnx"))


def test_eval_rows_reproduce_the_simulation(trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.json"
    _run("train-predictor", "--trace", str(trace), "--model", "markov", "--out", str(out))
    _run("eval-predictor", "--trace", str(trace), "--model", str(out), "--cache-shares", "0.5", "--admission", "cold")
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("no prefetch")]
    keys = [line.split(",")[0] for line in trace.read_text().splitlines()[1:]][280:]  # the 30 % test split
    expected = simulate("no prefetch", keys, 6)  # 13 distinct keys, half of them truncated to 6
    assert [(row[2], row[4], row[6]) for row in rows] == [("lru", "6", f"{expected.hit_ratio:.4f}")]


def test_plot_draws_a_miss_ratio_curve_png(trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.json"
    _run("train-predictor", "--trace", str(trace), "--model", "markov", "--out", str(out))
    image = tmp_path / "curve.png"
    arguments = ["--trace", str(trace), "--model", str(out), "--policies", "lru,s3fifo", "--plot", str(image)]
    assert _run("eval-predictor", *arguments, "--curve-shares", "0.1,0.3,0.6") == 0
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"miss-ratio curves -> {image}" in capsys.readouterr().out


def test_trace_format_option_reads_a_nameless_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "blocks.data"
    path.write_text("".join(f"{(index * 8) % 64} 2 0 0\n" for index in range(100)))
    out = tmp_path / "model.json"
    with pytest.raises(ConfigError, match="--trace-format"):
        _run("train-predictor", "--trace", str(path), "--model", "markov", "--out", str(out))
    assert (
        _run("train-predictor", "--trace", str(path), "--trace-format", "arc", "--model", "markov", "--out", str(out))
        == 0
    )
    assert "read 200 records" in capsys.readouterr().err


def test_unknown_policy_is_config_error_before_reading(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    _run("train-predictor", "--trace", str(trace), "--model", "markov", "--out", str(out))
    with pytest.raises(ConfigError, match="valid: lfu, lru, s3fifo, wtinylfu"):
        _run("eval-predictor", "--trace", str(trace), "--model", str(out), "--policies", "lru,clock")
