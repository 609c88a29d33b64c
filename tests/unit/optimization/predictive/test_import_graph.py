"""The agent serves models but never trains or exports them: its import graph holds no training code."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.agent_imports import check_agent_report, run_agent_script, write_models


def test_agent_serving_models_imports_no_training_or_export_code(tmp_path: Path) -> None:
    check_agent_report(run_agent_script(sys.executable, write_models(tmp_path)))
