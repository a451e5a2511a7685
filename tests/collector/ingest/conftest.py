"""`store`: an open store on SQLite and (marked postgres) on a real PostgreSQL, as the store
contract tests use it."""

from tests.collector.store.test_contract import store  # noqa: F401 - fixture
from tests.postgres import postgres_server  # noqa: F401 - fixture
