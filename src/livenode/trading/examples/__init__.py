"""trading/examples."""
