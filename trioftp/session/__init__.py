"""The FTP session: explicit parts, each owning its state, and stateless command groups.

Parts (see :mod:`.core` for how a :class:`~.core.Session` composes them):

* :mod:`.state` - what the protocol remembers between commands, and its resets;
* :mod:`.control` - the control connection: lines in, replies out, TLS on and off;
* :mod:`.dataconn` - the data endpoint (PASV/EPSV/PORT/EPRT) and its connections;
* :mod:`.transfers` - one transfer's data task and the control connection meanwhile;
* :mod:`.runner` - where blocking work runs (threads, inline, as a system user);
* :mod:`.events` - log lines, ``on_*`` callbacks and observers, told once;
* :mod:`.tls` - FTPS as a protection policy for the control and data channels.

Around them: :mod:`.dispatch` (the command table to ``ftp_<CMD>``),
:mod:`.paths` (argument to checked path), :mod:`.errors` (failures to
replies), :mod:`.status`, :mod:`.settings`, :mod:`.callbacks`,
:mod:`.permissions`, and :mod:`.commands` - the command groups, written
against the one :class:`~.context.CommandContext` protocol.
"""
