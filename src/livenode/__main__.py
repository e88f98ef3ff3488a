"""`python -m livenode ...` is the same as the `livenode` console script."""

import sys

from livenode.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
