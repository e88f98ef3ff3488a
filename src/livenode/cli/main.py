"""Entry point of the `livenode` console script."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("livenode: not built yet", file=sys.stderr)
    return 1
