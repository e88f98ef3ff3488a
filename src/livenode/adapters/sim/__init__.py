"""adapters/sim."""
