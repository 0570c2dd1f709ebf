"""``python -m segue.serve MODEL [options]``: see :mod:`segue.serve.cli`."""

from segue.serve.cli import main

raise SystemExit(main())
