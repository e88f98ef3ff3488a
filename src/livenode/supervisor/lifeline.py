"""A worker must not outlive its supervisor.

First line: the parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG)``), set from
the worker's main thread, then a re-check of the parent pid because the parent may
have died between our start and the prctl call. Second line, for when the signal
is not available or gets lost: missed heartbeat answers (the worker's control
loop), see the worker module.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(expected_parent: int, sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` when our parent dies; exit now if it already has.

    Returns False where prctl is unavailable (not Linux): the heartbeat line still holds.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(errno)}")
        installed = True
    else:
        installed = False
    if os.getppid() != expected_parent:
        # The supervisor died before the signal was armed: nobody will tell us.
        os._exit(70)
    return installed
