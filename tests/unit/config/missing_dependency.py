"""A module whose own import is missing (a broken install, not a bad config path)."""

import livenode_no_such_dependency  # noqa: F401
