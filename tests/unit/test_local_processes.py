"""free_port: ports that no outgoing connection can take before the caller binds them."""

from __future__ import annotations

import socket

from memories.local_processes import LOWEST_CHOSEN_PORT, ephemeral_port_floor, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_can_be_bound() -> None:
    floor = ephemeral_port_floor()
    ports = {free_port() for _ in range(20)}
    assert all(LOWEST_CHOSEN_PORT <= port < floor for port in ports)
    assert len(ports) > 1
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_returned() -> None:
    listeners = []
    try:
        for _ in range(50):
            port = free_port()
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen()
            listeners.append(sock)
        assert len({sock.getsockname()[1] for sock in listeners}) == 50
    finally:
        for sock in listeners:
            sock.close()


def test_ports_asked_for_before_any_is_bound_are_all_different() -> None:
    # Drawn at random from ~22 000 ports, 2 000 draws would repeat some ~90 times (the birthday problem).
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
