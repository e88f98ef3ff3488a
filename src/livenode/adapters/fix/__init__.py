"""FIX 4.4 execution adapter: codec, session layer (initiator on the node's loop) and
execution client. See docs/fix.md."""
