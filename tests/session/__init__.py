"""Session tests: servers and sessions run in-process, over loopback or memory streams."""
