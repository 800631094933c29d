"""Virtual hosts (RFC 7151): HOST selects a site - its users, home, banner, filesystem, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trioftp.authorizers import DummyAuthorizer
from trioftp.filesystems import AbstractedFS
from trioftp.handlers import FTPHandler
from trioftp.session.sites import Site, SiteTable, normalize_host_name, parse_host_argument

from ..support.ftpclient import FTPClient
from ..support.harness import MemorySession, SessionHarness

BANNER_A = "Welcome to site A."
A_BYTES = b"site A's file\r\n\x00\xff"
B_BYTES = b"site B's file"


class MarkedFS(AbstractedFS):
    """A filesystem class a site chooses; it says so in listings of its sessions."""

    instances: list[MarkedFS] = []

    def __init__(self, root: str, cmd_channel: Any) -> None:
        super().__init__(root, cmd_channel)
        self.instances.append(self)


@pytest.fixture
def sites(tmp_path: Path) -> SiteTable:
    """Site A: alice (read-write) with a banner; site B: anonymous, read-only, MarkedFS."""
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    root_a.mkdir()
    root_b.mkdir()
    (root_a / "file.bin").write_bytes(A_BYTES)
    (root_b / "file.bin").write_bytes(B_BYTES)
    users_a = DummyAuthorizer()
    users_a.add_user("alice", "wonderland", str(root_a), perm="elradfmw", msg_login="Hi Alice.")
    users_b = DummyAuthorizer()
    users_b.add_anonymous(str(root_b))
    return SiteTable(
        [
            Site(["ftp.a.example", "a.example"], users_a, banner=BANNER_A),
            Site(
                "ftp.b.example", users_b, abstracted_fs=MarkedFS, settings={"max_login_attempts": 1}
            ),
        ]
    )


@pytest.fixture
async def session(session_harness: SessionHarness, sites: SiteTable) -> MemorySession:
    session = session_harness(sites=sites)
    greeting = await session.client.reply()
    assert greeting.first == f"220 {FTPHandler.banner}"
    return session


async def download(client: FTPClient, path: str) -> bytes:
    assert (await client.cmd("TYPE I")).code == 200
    data, reply = await client.retr(path)
    assert reply.first == "226 Transfer complete.", reply
    return data


# --- selecting a site


async def test_without_host_the_default_site(session: MemorySession) -> None:
    client = session.client
    assert (await client.login("alice", "wonderland")).code == 530
    assert (await client.login("user", "pass")).first == "230 Login successful."
    (session.home / "home.txt").write_bytes(b"default")
    assert await download(client, "home.txt") == b"default"
    assert session.handler.site is None


@pytest.mark.parametrize("name", ["ftp.a.example", "A.EXAMPLE", "Ftp.A.Example."])
async def test_host_selects_a_site(session: MemorySession, name: str) -> None:
    client = session.client
    assert (await client.cmd(f"HOST {name}")).lines == (f"220 {BANNER_A}",)
    # The site's users, login message and home; the default site's user is unknown here.
    assert (await client.login("user", "pass")).code == 530
    assert (await client.login("alice", "wonderland")).lines == ("230 Hi Alice.",)
    assert (await client.cmd("PWD")).first == '257 "/" is the current directory.'
    assert await download(client, "file.bin") == A_BYTES
    assert session.handler.requested_host == name.lower().rstrip(".")


async def test_a_site_with_its_own_filesystem(session: MemorySession, tmp_path: Path) -> None:
    client = session.client
    # No banner of its own: the handler's.
    assert (await client.cmd("HOST ftp.b.example")).lines == (f"220 {FTPHandler.banner}",)
    MarkedFS.instances.clear()
    assert (await client.login("anonymous", "guest@")).code == 230
    assert MarkedFS.instances == [session.handler.fs]
    assert MarkedFS.instances[0].root == str(tmp_path / "b")
    assert await download(client, "file.bin") == B_BYTES
    assert (await client.cmd("MKD new")).code == 550  # anonymous is read-only here


async def test_a_site_setting_applies(session_harness: SessionHarness, sites: SiteTable) -> None:
    session = session_harness(sites=sites)
    client = session.client
    await client.reply()
    assert (await client.cmd("HOST ftp.b.example")).code == 220
    # max_login_attempts=1 on site B: the first failure disconnects.
    assert (await client.login("nobody", "x")).first == "530 Authentication failed. Disconnecting."
    await session.ended.wait()


async def test_a_later_host_replaces_the_earlier(session: MemorySession) -> None:
    client = session.client
    assert (await client.cmd("HOST ftp.b.example")).code == 220
    assert (await client.cmd("HOST a.example")).lines == (f"220 {BANNER_A}",)
    assert (await client.login("alice", "wonderland")).code == 230


async def test_address_literals_name_the_default_site(session: MemorySession) -> None:
    client = session.client
    assert (await client.cmd("HOST a.example")).code == 220
    # The server's own address: the default site (the earlier HOST is replaced).
    assert (await client.cmd("HOST 127.0.0.1")).lines == (f"220 {FTPHandler.banner}",)
    assert session.handler.site is None
    assert (await client.login("user", "pass")).code == 230


@pytest.mark.parametrize("name", ["unknown.example", "10.1.2.3", "[::2]", "localhost.example"])
async def test_unknown_host_is_504_and_leaves_no_host(session: MemorySession, name: str) -> None:
    client = session.client
    assert (await client.cmd("HOST a.example")).code == 220
    assert (await client.cmd(f"HOST {name}")).lines == (f"504 Unknown host {name!r}.",)
    # As if no HOST had been sent (RFC 7151 section 3.3): the default site.
    assert session.handler.site is None
    assert session.handler.requested_host is None
    assert (await client.login("user", "pass")).code == 230


@pytest.mark.parametrize(
    "argument",
    ["a.example:21", "127.0.0.1:21", "[::1]:21", "[::1", "under_score.example", "-a.example",
     "a..example", "ex\u00e4mple.org", "a" * 64 + ".example"],
)  # fmt: skip
async def test_malformed_host_is_501(session: MemorySession, argument: str) -> None:
    reply = await session.client.cmd(f"HOST {argument}")
    assert reply.code == 501, reply
    assert reply.first.startswith("501 Invalid host name ")


async def test_host_after_user_or_login_is_503(session: MemorySession) -> None:
    client = session.client
    assert (await client.cmd("USER alice")).code == 331
    assert (await client.cmd("HOST a.example")).lines == ("503 HOST must be sent before USER.",)
    assert (await client.cmd("PASS wonderland")).code == 530  # still the default site
    assert (await client.login("user", "pass")).code == 230
    assert (await client.cmd("HOST a.example")).lines == ("503 HOST must be sent before USER.",)
    assert session.handler.site is None


async def test_rein_forgets_the_host_and_user_keeps_it(session: MemorySession) -> None:
    client = session.client
    assert (await client.cmd("HOST a.example")).code == 220
    assert (await client.login("alice", "wonderland")).code == 230
    # A new USER logs in to the same site.
    assert (await client.login("alice", "wonderland")).code == 230
    assert (await client.cmd("REIN")).first == "220 Ready for new user."
    assert session.handler.site is None
    assert (await client.login("alice", "wonderland")).code == 530
    assert (await client.login("user", "pass")).code == 230


async def test_feat_lists_host(session: MemorySession) -> None:
    reply = await session.client.cmd("FEAT")
    assert " HOST" in reply.lines


async def test_a_plain_list_of_sites_works(
    session_harness: SessionHarness, sites: SiteTable
) -> None:
    session = session_harness(sites=list(sites))
    client = session.client
    await client.reply()
    assert (await client.cmd("HOST ftp.a.example")).lines == (f"220 {BANNER_A}",)


# --- describing sites


def test_site_names_are_normalized() -> None:
    site = Site(["FTP.Example.ORG.", "example.org"], DummyAuthorizer())
    assert site.names == ("ftp.example.org", "example.org")
    assert site.name == "ftp.example.org"
    assert SiteTable([site]).find("Example.Org.") is site


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Site([], DummyAuthorizer()), "a site needs at least one host name"),
        (lambda: Site("bad name", DummyAuthorizer()), "invalid host name 'bad name'"),
        (
            lambda: Site("a.example", DummyAuthorizer(), keyfile="k.pem"),
            "a keyfile needs a certfile",
        ),
        (
            lambda: Site("a.example", DummyAuthorizer(), settings={"encoding": "latin-1"}),
            "site 'a.example': encoding can't be set per site",
        ),
        (
            lambda: SiteTable(
                [Site("a.example", DummyAuthorizer()), Site("A.example", DummyAuthorizer())]
            ),
            "host name 'a.example' names two sites",
        ),
    ],
)
def test_bad_sites_are_refused(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


@pytest.mark.parametrize(
    ("argument", "value", "is_address"),
    [
        ("Ftp.Example.Org", "ftp.example.org", False),
        ("xn--e1afmkfd.com", "xn--e1afmkfd.com", False),
        ("192.0.2.1", "192.0.2.1", True),
        ("[2001:DB8::C000:201]", "2001:db8::c000:201", True),
        ("[::192.0.2.1]", "::c000:201", True),
    ],
)
def test_host_argument_syntax(argument: str, value: str, is_address: bool) -> None:
    parsed = parse_host_argument(argument)
    assert (parsed.value, parsed.is_address) == (value, is_address)


def test_host_names_have_length_limits() -> None:
    assert normalize_host_name("a" * 63 + ".example") == "a" * 63 + ".example"
    with pytest.raises(ValueError, match="invalid host name"):
        normalize_host_name(".".join(["a" * 60] * 5))
