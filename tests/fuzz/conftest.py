"""The fuzz suite runs on the embedded database: what it hunts (500s, crashes, partial writes
from rejected input) lives in the doors, not the backend, which the rest of the suite covers on
both; and the whole suite stays within its ten minutes."""

from __future__ import annotations

import pytest

from tests.web.conftest import sqlite_only

database = pytest.fixture(sqlite_only, name="database")
