"""trioftp.utils: the helpers pyftpdlib's utils module offers."""

import socket

from trioftp.utils import has_dualstack_ipv6


def test_has_dualstack_ipv6_tells_whether_one_socket_serves_both_families() -> None:
    assert has_dualstack_ipv6() is socket.has_dualstack_ipv6()
