"""Who holds something: a job's lease in the ledger, a version's staging folder on a takes root.

Ledgers and takes roots are shared: by the threads of one engine, by the processes of one
workstation (a panel's worker, a terminal) and, on a farm, by machines that mount the same
storage. An owner is therefore this machine, this process and a random token, and whether it is
still alive is decided by a heartbeat it keeps, never by its process id alone: a pid means
nothing on another machine, and is reused on this one. A pid is only a shortcut, on the same
machine, to learn sooner that an owner is gone.

"The same machine" is the host name plus, on Linux, the boot id and the pid namespace, so two
containers that share a host name (or two machines cloned from one image) are not mistaken for
one. ``GENPLATE_LEASE_HOST`` replaces all of it, for farms whose workers cannot be told apart
otherwise (and for tests that play two machines on one).
"""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

HOST_ENV = "GENPLATE_LEASE_HOST"


@lru_cache(maxsize=1)
def _machine() -> str:
    name = socket.gethostname() or "localhost"
    parts = []
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            parts.append("boot " + fh.read().strip()[:8])
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
        parts.append("pidns " + namespace.split("[")[-1].rstrip("]"))
    except OSError:  # not Linux, or /proc hidden: the host name alone
        pass
    return f"{name} ({', '.join(parts)})" if parts else name


def host_id() -> str:
    """This machine, as owners record it (read once; the override is read every time)."""
    return os.environ.get(HOST_ENV, "").strip() or _machine()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (it may be another by now)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # QUERY_LIMITED_INFO
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    """One holder: a machine, a process on it, and a token unique to this holding."""

    host: str
    pid: int
    token: str

    @classmethod
    def here(cls) -> "Owner":
        return cls(host_id(), os.getpid(), uuid.uuid4().hex[:12])

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}/{self.token}"

    def describe(self) -> str:
        return f"process {self.pid} on {self.host.split(' (', 1)[0]}"


def gone_here(host: str, pid: Optional[int]) -> bool:
    """True only when the owner ran on this machine and its process no longer exists.

    False means "cannot tell from here": the caller must wait for its heartbeat to lapse.
    """
    return bool(pid) and host == host_id() and not pid_alive(int(pid))


__all__ = ["Owner", "host_id", "pid_alive", "gone_here", "HOST_ENV"]
