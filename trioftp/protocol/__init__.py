"""The sans-IO half of trioftp: FTP's wire formats, with no sockets and no Trio.

* :mod:`.framing` splits the control stream into command lines;
* :mod:`.commands` is the command table (dispatch, permissions, FEAT, HELP);
* :mod:`.replies` formats replies;
* :mod:`.addresses` encodes and decodes PORT/PASV/EPRT/EPSV;
* :mod:`.listing` formats LIST and MLSD/MLST lines;
* :mod:`.ascii` converts line endings for ``TYPE A``.
"""
