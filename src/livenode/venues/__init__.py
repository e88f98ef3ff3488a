"""Venues the node can trade against that live in this code base (the simulated exchange).

A venue is not a client: the node reaches it only through an adapter
(`livenode.adapters`). Venues import model, core, config and the seam's event
builders (`livenode.engines.exec_events`); never an adapter.
"""
