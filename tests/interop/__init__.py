"""Interoperability tests: real client commands, and servers run as subprocesses."""
