"""The deployment examples (systemd units, Dockerfile, compose.yaml) use options that exist.

Each example's command line goes through the ``trioftp`` command's own
parser, and the ports each one publishes match the passive range it gives.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from trioftp.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def parse(args: list[str]) -> dict[str, object]:
    return vars(build_parser().parse_args(args))


def test_systemd_service_command_line() -> None:
    unit = (ROOT / "contrib/systemd/trioftp.service").read_text()
    joined = unit.replace("\\\n", " ")
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", joined, re.MULTILINE)
    program, *args = shlex.split(exec_start)
    assert program.endswith("/bin/trioftp")
    options = parse(args)
    assert (options["port"], options["tls"], options["cert_dir"]) == (21, True, "/var/lib/trioftp")
    assert re.search(r"^Type=notify$", unit, re.MULTILINE)
    assert re.search(r"^AmbientCapabilities=CAP_NET_BIND_SERVICE$", unit, re.MULTILINE)
    assert re.search(r"^StateDirectory=trioftp$", unit, re.MULTILINE)


def test_systemd_socket_passes_one_listening_socket() -> None:
    unit = (ROOT / "contrib/systemd/trioftp.socket").read_text()
    assert re.findall(r"^ListenStream=(.*)$", unit, re.MULTILINE) == ["21"]
    assert re.search(r"^Accept=no$", unit, re.MULTILINE)


def test_dockerfile_command_line_and_ports() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    options = parse(json.loads(cmd))
    passive = options["range"]
    assert isinstance(passive, list)
    assert options["port"] == 21
    assert f"EXPOSE 21 {passive[0]}-{passive[-1]}" in dockerfile
    assert re.search(r"^USER trioftp$", dockerfile, re.MULTILINE)


def test_compose_command_line_and_ports() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    (command,) = re.findall(r"^    command: (\[.*\])$", compose, re.MULTILINE)
    options = parse(json.loads(command))
    passive = options["range"]
    assert isinstance(passive, list)
    assert options["nat_address"] is not None
    assert f'"{passive[0]}-{passive[-1]}:{passive[0]}-{passive[-1]}"' in compose
    assert '"21:21"' in compose
