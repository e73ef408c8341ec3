"""Who owns a lease or a discovery run: this machine, this process, and when that process started.

A lease that only expires by the clock makes a restart wait out the lease. Each claim therefore records its
process as ``host:pid:start``; on the same host, a process that no longer exists (or whose pid now belongs to a
process that started at another time, the pid having been reused) can never finish the work, and its leases may be
released at once. An owner on another host is never judged: only its lease's clock can tell.
"""

from __future__ import annotations

import os
import socket
from functools import cache


@cache
def host() -> str:
    return socket.gethostname()


def start_ticks(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot (Linux ``/proc``); None when it does not exist.

    "" when the system has no ``/proc`` and the process exists: its start time is then unknown.
    """
    try:
        stat = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()  # noqa: SIM115
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""
    # Field 22 (starttime); the command name in field 2 may hold spaces and parentheses, so split after it.
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> str:
    """This process's identity as leases and runs record it."""
    pid = os.getpid()
    return f"{host()}:{pid}:{start_ticks(pid) or ''}"


def is_gone(owner: str | None) -> bool:
    """True only when ``owner`` ran on this host and that process no longer exists.

    Unknown owners (empty, from another host, malformed) are never gone: they keep their lease until it expires.
    """
    if not owner:
        return False
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host() or not parts[1].isdigit():
        return False
    started = start_ticks(int(parts[1]))
    if started is None:
        return True
    return bool(parts[2]) and bool(started) and started != parts[2]
