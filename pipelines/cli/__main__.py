"""``python -m pipelines.cli``: the same as the ``newsflow`` command."""

import sys

from pipelines.cli import main

sys.exit(main())
