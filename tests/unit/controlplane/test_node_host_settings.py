"""The machine-wide settings of real nodes: recorded by the first node, restored by the last one out."""

from __future__ import annotations

from pathlib import Path

import pytest

from memories.controlplane.node import host_settings
from memories.controlplane.node.network import NODE_BLOCK


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A fake /proc/sys, fake machine-wide directories and a recorder instead of `ip route`."""
    proc_sys = tmp_path / "proc-sys"
    for name in host_settings.SYSCTLS:
        (proc_sys / name).parent.mkdir(parents=True, exist_ok=True)
        (proc_sys / name).write_text("0\n")
    routes: list[tuple[str, ...]] = []
    monkeypatch.setattr(host_settings, "PROC_SYS", proc_sys)
    monkeypatch.setattr(host_settings, "ip_command", lambda *args, **_: routes.append(args))
    preexisting, created = tmp_path / "var-lib-cni", tmp_path / "var-lib-kubelet"
    preexisting.mkdir()
    monkeypatch.setattr(host_settings, "MACHINE_DIRECTORIES", (preexisting, created))
    monkeypatch.setattr(host_settings, "DEVICE_PLUGIN_SOCKET", created / "device-plugins" / "kubelet.sock")
    return {"proc_sys": proc_sys, "routes": routes, "root": tmp_path / "nodes", "preexisting": preexisting,
            "created": created}  # fmt: skip


def _kubelet_sets_its_values(proc_sys: Path) -> None:
    for name, value in (("vm/overcommit_memory", "1"), ("kernel/panic", "10"), ("kernel/panic_on_oops", "1")):
        (proc_sys / name).write_text(value + "\n")


def test_the_last_node_out_restores_what_the_first_one_found(machine: dict[str, object]) -> None:
    proc_sys, root = machine["proc_sys"], machine["root"]
    assert isinstance(proc_sys, Path) and isinstance(root, Path)
    host_settings.acquire(root, "a")
    _kubelet_sets_its_values(proc_sys)
    host_settings.acquire(root, "b")  # must not record the kubelet's values as the originals
    assert not host_settings.release(root, "a", is_alive=lambda holder: True)
    assert (proc_sys / "kernel/panic").read_text().strip() == "10"  # b still runs
    assert host_settings.release(root, "b", is_alive=lambda holder: True)
    assert set(host_settings.read_sysctls().values()) == {"0"}
    assert not (root / host_settings.RECORD_NAME).exists()


def test_holders_that_died_do_not_keep_the_machine_changed(machine: dict[str, object]) -> None:
    proc_sys, root = machine["proc_sys"], machine["root"]
    assert isinstance(proc_sys, Path) and isinstance(root, Path)
    host_settings.acquire(root, "killed")
    host_settings.acquire(root, "survivor")
    _kubelet_sets_its_values(proc_sys)
    assert host_settings.release(root, "survivor", is_alive=lambda holder: holder != "killed")
    assert set(host_settings.read_sysctls().values()) == {"0"}


def test_the_safety_route_lives_as_long_as_some_node(machine: dict[str, object]) -> None:
    routes, root = machine["routes"], machine["root"]
    assert isinstance(routes, list) and isinstance(root, Path)
    host_settings.acquire(root, "a")
    host_settings.acquire(root, "b")
    assert [route[0] for route in routes] == ["route"] and routes[0][1] == "replace"
    host_settings.release(root, "a", is_alive=lambda holder: True)
    assert len(routes) == 1
    host_settings.release(root, "b", is_alive=lambda holder: True)
    assert routes[-1][:2] == ("route", "delete") and NODE_BLOCK in routes[-1]


def test_only_directories_the_nodes_created_are_removed(machine: dict[str, object]) -> None:
    root, preexisting, created = machine["root"], machine["preexisting"], machine["created"]
    assert isinstance(root, Path) and isinstance(preexisting, Path) and isinstance(created, Path)
    host_settings.acquire(root, "a")
    (created / "device-plugins").mkdir(parents=True)
    (created / "device-plugins" / "kubelet.sock").write_text("")
    host_settings.release(root, "a", is_alive=lambda holder: True)
    assert preexisting.is_dir() and not created.exists()


def test_release_without_a_record_is_a_no_op(machine: dict[str, object]) -> None:
    root = machine["root"]
    assert isinstance(root, Path)
    assert host_settings.release(root, "nobody", is_alive=lambda holder: False) is False
