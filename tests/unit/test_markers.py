"""Markers follow fixture use (tests/markers.py): a test that needs the control plane or a real node says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.markers import implied_markers

REPOSITORY = Path(__file__).resolve().parents[2]


def test_a_control_plane_fixture_implies_the_controlplane_marker() -> None:
    assert implied_markers(["tmp_path", "control_plane"], []) == {"controlplane"}
    assert implied_markers(["helm_executable"], ["parametrize"]) == {"controlplane", "parametrize"}


def test_a_real_node_implies_both_markers() -> None:
    assert implied_markers(["node_binaries"], []) == {"controlplane", "realnode"}
    assert implied_markers([], ["realnode"]) == {"controlplane", "realnode"}


def test_other_fixtures_imply_nothing() -> None:
    assert implied_markers(["redis_url", "tmp_path"], ["slow"]) == {"slow"}


def collected(marker_expression: str, *paths: str) -> list[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            marker_expression,
            *paths,
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: nothing selected
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_tests_using_the_fixtures_are_selected_by_their_marker_without_hand_marking() -> None:
    # Neither file marks its tests by hand: the operator tests ask for control_plane through the operator fixture,
    # the chart tests for helm_executable through helm.
    paths = ("tests/operator/test_operator.py", "tests/helm/test_chart_lint.py")
    assert len(collected("controlplane", *paths)) >= 5
    assert collected("not controlplane", *paths) == []
    assert collected("realnode", *paths) == []
