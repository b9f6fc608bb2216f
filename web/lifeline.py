"""Pool workers end when the server ends, even after ``kill -9`` of the server.

A worker forked by the forkserver holds the forkserver's "alive" pipe and the resource
tracker's pipe; once every worker has exited, both of those see end of file and exit too.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import threading
import time

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_POLL_S = 1.0


def bind_to_server(server_pid: int) -> None:
    """Pool initializer: exit this worker as soon as process ``server_pid`` has ended."""
    _die_with_parent()
    try:
        fd = os.pidfd_open(server_pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        threading.Thread(target=_poll, args=(server_pid,), daemon=True, name="lifeline").start()
        return
    threading.Thread(target=_wait, args=(fd,), daemon=True, name="lifeline").start()


def _die_with_parent() -> None:
    """SIGKILL when the forkserver (this worker's parent) dies (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        logger.debug("prctl(PR_SET_PDEATHSIG) unavailable")


def _wait(fd: int) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.poll()
    os._exit(1)


def _poll(server_pid: int) -> None:
    while True:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass
        time.sleep(_POLL_S)
