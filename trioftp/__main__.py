"""``python -m trioftp``: run the command-line server."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
