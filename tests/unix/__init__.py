"""Unix accounts: UnixAuthorizer, threads that run as the user, UnixFilesystem (as root)."""
