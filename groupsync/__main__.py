"""Entry point for ``python -m groupsync``."""

from groupsync.cli import main

raise SystemExit(main())
