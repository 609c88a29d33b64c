"""The ``memories dedup`` subcommands, run through their argparse parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from memories.optimization.dedup import cli


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="memories")
    cli.register(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(["dedup", *argv])
    return int(arguments.handler(arguments))


def test_add_list_stats_restore_and_delete_work_on_one_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, content = str(tmp_path / "store"), np.random.default_rng(0).bytes(64 * 1024)
    (tmp_path / "a.bin").write_bytes(content)
    (tmp_path / "b.bin").write_bytes(content + content)
    assert run("add", "--store", store, str(tmp_path / "a.bin"), str(tmp_path / "b.bin")) == 0
    input_ids = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert run("list", "--store", store) == 0
    assert sorted(capsys.readouterr().out.split()) == sorted(input_ids)
    assert run("stats", "--store", store) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["logical_bytes"], stats["physical_bytes"]) == (3 * len(content), len(content))
    assert run("restore", "--store", store, input_ids[1], "--output", str(tmp_path / "out.bin")) == 0
    assert (tmp_path / "out.bin").read_bytes() == content + content
    assert run("delete", "--store", store, *input_ids) == 0
    assert run("list", "--store", store) == 0
    assert capsys.readouterr().out == ""


def test_restore_of_an_unknown_input_exits_with_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("restore", "--store", str(tmp_path), "missing", "--output", str(tmp_path / "out")) == 1
    assert "missing" in capsys.readouterr().err


def test_check_and_gc_report_on_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    (tmp_path / "a.bin").write_bytes(np.random.default_rng(1).bytes(200_000))
    (tmp_path / "b.bin").write_bytes(np.random.default_rng(2).bytes(100_000))
    assert run("add", "--store", store, "--name", "a", str(tmp_path / "a.bin")) == 0
    assert run("add", "--store", store, "--name", "b", str(tmp_path / "b.bin")) == 0
    assert run("delete", "--store", store, "a") == 0
    capsys.readouterr()
    assert run("gc", "--store", store) == 0  # the pack is two-thirds dead: rewritten with b's blocks only
    assert int(capsys.readouterr().out.split()[0]) > 200_000  # a's records, headers included
    assert run("check", "--store", store) == 0
    assert capsys.readouterr().out.endswith("ok\n")
    (pack,) = (tmp_path / "store" / "packs").glob("*.pack")
    raw = bytearray(pack.read_bytes())
    raw[-1] ^= 1
    pack.write_bytes(raw)
    with pytest.raises(SystemExit) as exit_info:
        run("check", "--store", store)
    assert exit_info.value.code == 1 and "does not match its id" in capsys.readouterr().out
