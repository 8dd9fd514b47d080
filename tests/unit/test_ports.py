"""Free loopback ports for the parts a test or ``chatwatch run`` starts (stream/broker.py)."""

from __future__ import annotations

import socket

from stream.broker import free_port, free_ports


def test_ports_asked_for_together_are_all_different_and_free() -> None:
    ports = free_ports(40)
    assert len(set(ports)) == 40
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free again once chosen


def test_one_free_port() -> None:
    port = free_port()
    assert 0 < port < 65536
