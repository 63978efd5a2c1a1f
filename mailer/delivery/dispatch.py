"""Claim due mailings, create their runs and deliveries, enqueue send batches after commit."""

from __future__ import annotations


def dispatch_due() -> int:
    """Dispatch every due mailing; returns the number of runs created.

    Sending is built in the delivery issue; until then nothing is due.
    """
    return 0
