"""Services: helper processes an adapter needs next to the node's workers.

A client factory may offer ``services(name, config, run_dir) -> list[ServiceSpec]``
(a static method, optional). The supervisor calls it for every configured client
before it spawns the workers, starts each service once (deduplicated by
``name``: the data and exec client of one venue may both ask), waits for the
service to print ``ready_line`` on its stdout, and stops it (SIGTERM, then
SIGKILL after the shutdown timeout) after the workers have stopped. The sim
adapter uses it to run its venue as a process of its own in multiprocess mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceSpec:
    """One helper process: how to start it and how it says it is ready.

    Attributes:
        name: unique per node (e.g. ``"sim-SIM"``); two specs of one name are one service.
        argv: the full command line (``argv[0]`` is usually ``sys.executable``).
        ready_line: the line the process prints on stdout once it serves.
        venue: the venue it serves; trading to it is halted while the service is down.
        on_exit: "stop" (its death stops the node) or "restart" (the supervisor starts
            it again with the workers' restart back-off and crash-loop bound, then the
            exec workers reconnect their clients of ``venue`` and reconcile).
    """

    name: str
    argv: list[str] = field(default_factory=list)
    ready_line: str = "ready"
    venue: str = ""  # the venue it serves: halted while it is down
    on_exit: str = "stop"  # "restart": restarted like a worker, then its clients reconnect
