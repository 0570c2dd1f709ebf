"""Peak resident memory of this process, measured so that a parent's memory never leaks in.

Why not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries a process's high-water mark across
``execve``, and a subprocess started by ``subprocess.run`` execs from a fork (or vfork) of its
parent, so a worker started by a 2 GB benchmark process reports at least 2 GB whatever it used.
``VmHWM`` in ``/proc/self/status`` is the high-water mark of the current address space, which
starts afresh at ``execve``.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (``VmHWM``; ``ru_maxrss`` off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
