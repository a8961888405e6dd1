"""``python -m hatch_sigstore``: the ``hatch-sigstore`` command."""

import sys

from hatch_sigstore.cli import main

sys.exit(main())
