"""Child processes of a local cluster (etcd, kube-apiserver, controllers, containerd, kubelet): logs and stopping."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import IO

from memories.controlplane.kubectl import loopback_environment
from memories.errors import ControlPlaneError
from memories.local_processes import stop_process

#: Lines of a failed process's log quoted in the error.
LOG_TAIL_LINES = 25


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or "(no log)"."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def dies_with_its_parent(command: list[str]) -> list[str]:
    """``command`` run so that the kernel sends it SIGTERM when the process that started it dies, however it dies
    (``kill -9`` of a test run or of ``memories dev`` included), through util-linux's ``setpriv --pdeathsig``;
    ``command`` unchanged where setpriv is missing. The parent is the *thread* that starts it: start such processes
    from the main thread (or one that outlives them). A parent that dies in the first moments, before setpriv has
    set the death signal and exec'd ``command``, leaves it running."""
    setpriv = shutil.which("setpriv")
    return command if setpriv is None else [setpriv, "--pdeathsig", "TERM", "--", *command]


class ManagedProcess:
    """A child process in its own session writing to a log file; stopped with terminate, wait, then kill, and sent
    SIGTERM by the kernel if its owner dies first (:func:`dies_with_its_parent`)."""

    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            dies_with_its_parent(command),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=loopback_environment(),
            start_new_session=True,
        )

    def check_alive(self) -> None:
        """Raise ControlPlaneError, quoting the log, when the process has exited."""
        status = self.process.poll()
        if status is not None:
            raise ControlPlaneError(
                f"{self.name} exited with status {status}; log {self.log_path}:\n{log_tail(self.log_path)}"
            )

    def stop(self, timeout_seconds: float) -> None:
        """Terminate, wait up to ``timeout_seconds``, then kill; always closes the log."""
        try:
            stop_process(self.process, timeout_seconds)
        finally:
            self._log.close()
