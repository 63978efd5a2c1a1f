"""When each periodic task last finished: /healthz tells a stopped scheduler by it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime


class Heartbeat(db.Model):
    """One row per task, moved on each time the task finishes."""

    DISPATCH = "dispatch"  # delivery/dispatch.py, every SCHEDULER_INTERVAL_SECONDS

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)
