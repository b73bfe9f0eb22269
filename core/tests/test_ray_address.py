"""Joining a Ray cluster: an address where nothing listens fails at once with what to do."""

from __future__ import annotations

import socket

import pytest

from rlcore.errors import ConfigError
from rlcore.ray_init import _check_reachable


def test_nothing_listening_is_a_clear_error_without_waiting():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(ConfigError, match=r"nothing answers at the Ray address .*ray start --head"):
        _check_reachable(f"127.0.0.1:{port}", timeout_s=2.0)


def test_a_listening_address_and_ray_own_forms_pass():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        _check_reachable(f"127.0.0.1:{server.getsockname()[1]}")
    for address in ("auto", "ray://head:10001", "localhost"):
        _check_reachable(address)  # left to Ray
