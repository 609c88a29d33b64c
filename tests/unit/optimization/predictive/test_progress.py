from __future__ import annotations

import io

from memories.optimization.predictive.progress import Progress
from memories.optimization.predictive.reports import EpochResult
from memories.optimization.predictive.training.progress import ProgressBar


def test_off_a_terminal_only_finished_steps_are_written_one_per_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    for count in range(100):
        progress.update(f"read {count} records", force=True)
    progress.done("read 100 records")
    progress.done("replay 1 done")
    assert stream.getvalue() == "read 100 records\nreplay 1 done\n"


def test_on_a_terminal_updates_redraw_one_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream, interactive=True)
    progress.update("read 10 records", force=True)
    progress.update("read 2 records", force=True)
    progress.done("done")
    assert stream.getvalue() == "\rread 10 records\rread 2 records \rdone          \n"


def test_training_bar_in_a_log_is_one_line_per_epoch() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    for epoch in (1, 2):
        for step in range(1, 301):
            bar(epoch, 2, step, 300, 1.5)
        bar.epoch_done(EpochResult(epoch, 1.5, 1.25, 0.5))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines == [
        "epoch 1/2 300 steps loss 1.5000  held-out loss 1.2500 top-1 50.0%",
        "epoch 2/2 300 steps loss 1.5000  held-out loss 1.2500 top-1 50.0%",
    ]
