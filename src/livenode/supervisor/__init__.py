"""Supervisor layer: topology, core plan, spawning and pinning workers, health,
restart policy and the ordered shutdown; and the worker entry point."""
