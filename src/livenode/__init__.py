"""livenode: a live trading node for Python."""
