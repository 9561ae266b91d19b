"""``python -m oracles MODULE:FUNCTION``: audit your own networks (``oracles.cli.cases``)."""

import sys

from oracles.cli.cases import main

if __name__ == "__main__":
    sys.exit(main())
