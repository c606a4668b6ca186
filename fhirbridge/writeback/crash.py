"""TEST ONLY: a publisher hook that kills the process inside the write-back's crash window.

The window: the server has accepted a write, the ledger has not recorded it (the lock's
transaction is open). A process killed there must leave no duplicate after the next run
(issue 5); tests/integration/test_writeback_crash.py proves it with real processes and SIGKILL.
bootstrap.py wires the hook from FHIRBRIDGE_TEST_CRASH_AFTER_WRITE; never set that in production.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter
from collections.abc import Callable

from fhirbridge.writeback.plan import PlannedWrite

log = logging.getLogger(__name__)
WriteHook = Callable[[PlannedWrite], None]


def crash_after_write(spec: str) -> WriteHook:
    """A hook that SIGKILLs this process after the chosen write.

    Args:
        spec: "<ResourceType>" (its first write), "<ResourceType>:<n>" (its n-th), or "<n>" (the
            n-th write of any type).
    Raises:
        ValueError: `n` is not a positive whole number.
    """
    rtype, _, nth = ("", "", spec) if spec.isdigit() else spec.partition(":")
    wanted = int(nth or 1)
    if wanted < 1:
        raise ValueError(f"FHIRBRIDGE_TEST_CRASH_AFTER_WRITE: {spec!r}: n must be 1 or more")
    seen = Counter[str]()

    def hook(write: PlannedWrite) -> None:
        if rtype and write.resource_type != rtype:
            return
        seen[rtype] += 1
        if seen[rtype] == wanted:
            log.warning("FHIRBRIDGE_TEST_CRASH_AFTER_WRITE: killing the process after a write")
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
