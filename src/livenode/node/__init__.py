"""Node layer: the kernel (composition root of one process), `TradingNode`, the builder
and the client base classes that adapters implement."""
