"""``python -m safeops``: the command-line interface."""

from safeops.cli import main

raise SystemExit(main())
