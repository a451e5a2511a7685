"""Storage: one interface (interface.py), one SQLAlchemy implementation for SQLite and PostgreSQL."""

from collector.store.interface import (
    AlertRecord,
    DeviceRecord,
    IngestResult,
    NotFound,
    Store,
    StoreError,
    TokenRejected,
)
from collector.store.sql import SqlStore, open_store

__all__ = [
    "AlertRecord",
    "DeviceRecord",
    "IngestResult",
    "NotFound",
    "SqlStore",
    "Store",
    "StoreError",
    "TokenRejected",
    "open_store",
]
