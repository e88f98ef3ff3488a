"""FIX 4.4 execution adapter: codec, session layer (initiator on the node's loop) and
execution client. See docs/fix.md."""

from livenode.adapters.fix.config import FixExecClientConfig
from livenode.adapters.fix.exec_client import FixExecClient, FixExecClientFactory

__all__ = ["FixExecClient", "FixExecClientConfig", "FixExecClientFactory"]
