"""livenode: a live trading node for Python."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("livenode")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
