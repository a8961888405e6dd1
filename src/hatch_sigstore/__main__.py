import sys

from hatch_sigstore.cli import main

sys.exit(main())
