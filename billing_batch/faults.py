"""Named points where a crash test can kill the run (tests/test_crash.py).

`BILLING_BATCH_KILL_AT=<point>:<n>` makes the process kill itself with SIGKILL the n-th time it
passes `reach(<point>)`: a power cut at a chosen, repeatable moment. Unset (always, outside the
crash tests), `reach` returns at once. Points: `sql` (every SQL statement), `schema` (each
statement creating or migrating the ledger, counted as `sql` too), `commit`, `documents`, `pdf`, `print`,
`email` (a message the server accepted, not yet marked sent), `files`, `reports` (see the callers).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "BILLING_BATCH_KILL_AT"


_passed: Counter[str] = Counter()  # per process: a forked render worker counts its own passes


def reach(point: str) -> None:
    target = os.environ.get(ENV)
    if not target:
        return
    _passed[point] += 1  # every point counts while a target is set (a test reads how many there are)
    name, _, n = target.partition(":")
    if name == point and str(_passed[point]) == n:
        os.kill(os.getpid(), signal.SIGKILL)
