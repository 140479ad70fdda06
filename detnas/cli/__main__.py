"""``python -m detnas.cli``: the ``detnas`` command."""

import sys

from detnas.cli import main

sys.exit(main())
