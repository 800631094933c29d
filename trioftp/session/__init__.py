"""The FTP session, split by concern into mixins that ``FTPHandler`` assembles.

* :mod:`.base` - lifecycle, command loop, dispatch, replies, logging, threads;
* :mod:`.control` - the control connection (lines in, replies out);
* :mod:`.login` - USER, PASS, REIN, QUIT, HOST;
* :mod:`.info` - TYPE, MODE, STRU, OPTS, FEAT, HELP, SYST, NOOP, ALLO;
* :mod:`.navigation` - PWD, CWD, MKD, RMD, DELE, RNFR/RNTO, SIZE, MDTM, MFMT, SITE CHMOD;
* :mod:`.dataconn` - PASV, EPSV, PORT, EPRT;
* :mod:`.transfer` - running a transfer as a data-channel task;
* :mod:`.files` - RETR, STOR, APPE, STOU, REST, ABOR;
* :mod:`.listings` - LIST, NLST, MLSD, MLST, STAT.
"""
