"""What every part of the schema shares: the metadata its tables join, and the type of a
point in time."""

from __future__ import annotations

from sqlalchemy import DateTime, MetaData

metadata = MetaData()

TIME = DateTime(timezone=True)
