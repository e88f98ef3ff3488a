"""Command-line interface: `livenode run / config / status / stop / clean`."""
