"""What a session remembers between commands, and when it forgets it.

:class:`SessionState` holds the login, the transfer parameters (TYPE, REST,
the MLST facts), the rename source, EPSV ALL, the data protection level
(PBSZ/PROT) and the host a client asked for, with one reset per scope: a new
login (USER, REIN) and a new security context (AUTH). The parts of a session
read and change it; only the state itself decides what a reset clears.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ..protocol.listing import DEFAULT_FACTS

__all__ = ["SessionState"]

# Directories a session remembers checking for expired partial files.
_MAX_EXPIRY_CHECKS = 1024


@attrs.define(eq=False, weakref_slot=False)  # one per session: no slot it does not need
class SessionState:
    """The per-session state of the FTP protocol (RFC 959, 2228, 2428, 3659, 4217, 7151)."""

    # Login.
    username: str = ""
    password: str = ""
    authenticated: bool = False
    attempted_logins: int = 0
    #: The name a client selected with HOST (RFC 7151).
    requested_host: str | None = None
    # Transfer parameters.
    #: ``"a"`` (ASCII) or ``"i"`` (binary), as set by TYPE.
    transfer_type: str = "a"
    #: The REST offset for the next RETR/STOR (0: none).
    restart_position: int = 0
    #: The MLST/MLSD facts selected with OPTS MLST.
    facts: Sequence[str] = DEFAULT_FACTS
    #: The path RNFR named, for the next RNTO.
    rename_from: str | None = None
    #: EPSV ALL was sent: PASV, PORT and EPRT are refused from now on.
    epsv_all: bool = False
    # Data protection (RFC 4217).
    pbsz: bool = False
    protect_data: bool = False
    # File hashes (draft-bryan-ftpext-hash).
    #: The algorithm selected with OPTS HASH (None: the handler's ``hash_algorithm``).
    hash_algorithm: str | None = None
    #: Bytes read from disk for hashes in this session, logins included (the
    #: ``hash_session_budget``; REIN does not reset it).
    hashed_bytes: int = 0
    # Atomic uploads.
    #: When this session last looked for expired partial files, per directory.
    expiry_checks: dict[str, float] | None = None

    def new_login(self, *, protected_by_default: bool = False, keep_host: bool = False) -> None:
        """Forget the user and everything set since login (USER, REIN).

        *protected_by_default* (implicit FTPS) keeps PBSZ/PROT P set; the
        control connection's own protection is not part of the login.
        *keep_host* keeps the HOST name: a new USER logs in to the same
        virtual host, only REIN forgets it (RFC 7151 section 3.2.1).
        """
        self.username = self.password = ""
        self.authenticated = False
        self.attempted_logins = 0
        if not keep_host:
            self.requested_host = None
        self.transfer_type = "a"
        self.restart_position = 0
        self.facts = DEFAULT_FACTS
        self.rename_from = None
        self.epsv_all = False
        self.pbsz = self.protect_data = protected_by_default
        self.hash_algorithm = None

    def new_security_context(self, *, protected_by_default: bool = False) -> None:
        """A new TLS session on the control connection (AUTH): PBSZ and PROT start over."""
        self.pbsz = self.protect_data = protected_by_default

    def expiry_check_due(self, directory: str, interval: float, now: float) -> bool:
        """Whether to look for expired partial files in *directory* now (then remembered).

        Once per *interval* seconds per directory: a session uploading many
        files into one big directory lists it once, not at every upload.
        """
        checks = self.expiry_checks
        if checks is None:
            checks = self.expiry_checks = {}
        last = checks.get(directory)
        if last is not None and now - last < interval:
            return False
        if len(checks) >= _MAX_EXPIRY_CHECKS:
            checks.clear()
        checks[directory] = now
        return True

    def take_restart_position(self) -> int:
        """The REST offset, used up."""
        offset, self.restart_position = self.restart_position, 0
        return offset
