"""The limits' building blocks: accounts, quota usage and the home scan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trioftp.limits import Accounts, QuotaUsage, UserLimits, scan_usage


def test_accounts_count_sessions_and_share_state() -> None:
    accounts = Accounts()
    limits = UserLimits(max_sessions=2, max_upload_rate=100, quota_bytes=10)
    first = accounts.enter("alice", limits)
    second = accounts.enter("alice", limits)
    assert first is not None
    assert first is second
    assert first.sessions == 2
    assert accounts.enter("alice", limits) is None  # a third one is refused
    assert first.upload is not None
    assert first.upload.rate == 100
    assert first.usage is not None
    assert first.usage.max_bytes == 10
    accounts.leave(first)
    accounts.leave(first)
    assert accounts.get("alice") is None  # dropped with the last session
    # The next login starts afresh (its usage is counted again).
    third = accounts.enter("alice", limits)
    assert third is not None
    assert third is not first


def test_a_login_applies_new_limits_to_the_shared_account() -> None:
    accounts = Accounts()
    account = accounts.enter("bob", UserLimits(max_download_rate=100, quota_files=3))
    assert account is not None
    assert account.download is not None
    bucket, usage = account.download, account.usage
    accounts.enter("bob", UserLimits(max_download_rate=50, quota_files=5))
    assert account.download is bucket
    assert bucket.rate == 50
    assert account.usage is usage
    assert usage is not None
    assert usage.max_files == 5
    accounts.enter("bob", UserLimits())
    assert (account.download, account.usage) == (None, None)


def test_bandwidth_combines_user_and_server_buckets() -> None:
    accounts = Accounts(max_download_rate=1000)
    assert accounts.bandwidth(None) is not None
    plain = accounts.enter("plain", UserLimits())
    limited = accounts.enter("limited", UserLimits(max_download_rate=10, max_upload_rate=20))
    assert plain is not None
    assert limited is not None
    plain_bandwidth = accounts.bandwidth(plain)
    assert plain_bandwidth is not None
    assert [b.rate for b in plain_bandwidth.download] == [1000]
    assert plain_bandwidth.upload == ()
    limited_bandwidth = accounts.bandwidth(limited)
    assert limited_bandwidth is not None
    assert [b.rate for b in limited_bandwidth.download] == [10, 1000]
    assert [b.rate for b in limited_bandwidth.upload] == [20]
    assert Accounts().bandwidth(None) is None


def test_quota_usage_grants_what_fits() -> None:
    usage = QuotaUsage(max_bytes=100, max_files=2)
    usage.set_totals(90, 1)
    assert usage.refusal(creating=True) is None
    assert usage.grow(30) == 10
    assert usage.refusal(creating=False) == "552 Quota exceeded: 100 of 100 bytes used."
    usage.add(-50, 1)
    assert usage.refusal(creating=False) is None
    assert usage.refusal(creating=True) == "552 Quota exceeded: 2 of 2 files."
    usage.add(-1000, -10)
    assert (usage.bytes, usage.files) == (0, 0)
    assert QuotaUsage().grow(10**12) == 10**12  # no limit


@pytest.mark.parametrize(
    ("field", "value"), [("quota_bytes", -1), ("max_sessions", 1.5), ("max_upload_rate", True)]
)
def test_user_limits_are_non_negative_integers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be a non-negative integer"):
        UserLimits(**{field: value})


def test_scan_usage_counts_regular_files_without_following_links(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a" * 10)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "b").write_bytes(b"b" * 5)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"x" * 1000)
    os.symlink(outside, tmp_path / "link-to-dir")
    os.symlink(outside / "big", tmp_path / "link-to-file")
    assert scan_usage(str(tmp_path)) == (15, 2)
    assert scan_usage(str(tmp_path / "missing")) == (0, 0)
