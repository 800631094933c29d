"""WindowsAuthorizer: importable everywhere, and a clear error where it can't work."""

from __future__ import annotations

import sys

import pytest

import trioftp.authorizers
from trioftp.authorizers import AuthorizerError, WindowsAuthorizer


def test_constructing_it_elsewhere_says_it_needs_windows_and_pywin32() -> None:
    with pytest.raises(AuthorizerError) as raised:
        WindowsAuthorizer(allowed_users=["someone"])
    assert str(raised.value) == (
        "WindowsAuthorizer needs Windows and the pywin32 package (pip install pywin32); "
        f"this system is {sys.platform!r}"
    )


def test_it_is_one_of_pyftpdlibs_authorizer_names() -> None:
    assert {"UnixAuthorizer", "WindowsAuthorizer"} <= set(trioftp.authorizers.__all__)
