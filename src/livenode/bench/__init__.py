"""Benchmarks of the node, as the `livenode bench` command runs them.

- `livenode.bench.t2t`: tick-to-trade latency per mode and per bus hop, next to the
  raw pyzmq floor measured in the same run.
- `livenode.bench.throughput`: the highest sustained quote rate and quote -> order
  round-trip rate, found by stepping the offered rate.
- `livenode.bench.lifecycle`: start-up time, RSS per process, ordered stop time.

The scenario (`livenode.bench.scenario`) and its strategies
(`livenode.bench.components`) ship with the package, so an installed node can
benchmark itself; every benchmark runs the node as a user does (``livenode run`` in
a subprocess). This is an outer layer, beside the CLI: nothing in the node imports it.
"""
