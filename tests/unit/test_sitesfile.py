"""The sites file of ``trioftp --sites``: what it describes, and one-line errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from trioftp.sitesfile import READ_ONLY, READ_WRITE, SitesFileError, load_sites


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(content)
    return path


def test_a_sites_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b.pem").write_text("certificate")
    path = write(
        tmp_path,
        """
[[site]]
name = "A.example"
aliases = ["www.a.example"]
directory = "a"
banner = "Site A."

[[site]]
name = "b.example"
directory = "b"
write = true
username = "bob"
password = "secret"
certfile = "b.pem"
""",
    )
    site_a, site_b = load_sites(path)
    assert site_a.names == ("a.example", "www.a.example")
    assert site_a.banner == "Site A."
    assert site_a.certfile is None
    assert site_a.authorizer.has_user("anonymous")
    assert site_a.authorizer.get_home_dir("anonymous") == str(tmp_path / "a")
    assert site_a.authorizer.get_perms("anonymous") == READ_ONLY
    assert (site_b.certfile, site_b.keyfile) == (str(tmp_path / "b.pem"), None)
    assert not site_b.authorizer.has_user("anonymous")
    site_b.authorizer.validate_authentication("bob", "secret", None)
    assert site_b.authorizer.get_perms("bob") == READ_WRITE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[site]]\nname = 'x.example'\n", "site 1 (x.example): 'directory' is required"),
        ("[[site]]\ndirectory = '.'\n", "site 1: 'name' is required"),
        ("[[site]]\nname = 'bad name'\ndirectory = '.'\n", "invalid host name 'bad name'"),
        ("[[site]]\nname = 'x.example'\ndirectory = 'nope'\n", "no such directory"),
        ("[[site]]\nname = 'x.example'\ndirectory = '.'\nusername = 'u'\n",
         "'username' needs a 'password'"),
        ("[[site]]\nname = 'x.example'\ndirectory = '.'\npassword = 'p'\n",
         "'password' needs a 'username'"),
        ("[[site]]\nname = 'x.example'\ndirectory = '.'\nwrite = 'yes'\n",
         "'write' must be true or false"),
        ("[[site]]\nname = 'x.example'\naliases = 'y.example'\ndirectory = '.'\n",
         "'aliases' must be a list of strings"),
        ("[[site]]\nname = 'x.example'\ndirectory = '.'\nport = 21\n", "unknown key 'port'"),
        ("[[site]]\nname = 'x.example'\ndirectory = '.'\ncertfile = 'no.pem'\n", "no such file"),
        ("[[site]]\nname = 'a.example'\ndirectory = '.'\n"
         "[[site]]\nname = 'A.example'\ndirectory = '.'\n",
         "host name 'a.example' names two sites"),
        ("site = 1\n", "no [[site]] table"),
        ("[site]\nname = 'x.example'\n", "no [[site]] table"),
        ("[[site]]\nname = 'x'\ndirectory = '.'\n[[host]]\n", "unknown key 'host'"),
        ("[[site]\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_sites_files(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(SitesFileError) as caught:
        load_sites(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_a_missing_sites_file(tmp_path: Path) -> None:
    with pytest.raises(SitesFileError, match="No such file or directory"):
        load_sites(tmp_path / "none.toml")
