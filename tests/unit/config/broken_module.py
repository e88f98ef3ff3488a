"""A module that fails while being imported, for the loader's import-error test."""

raise RuntimeError("boom while importing")
