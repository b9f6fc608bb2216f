"""A node worker process starts light: it never imports the database layer or the domain core
(it asks the server process over its channel), so each one starts in about half the time."""

from __future__ import annotations

import json
import subprocess
import sys


def test_a_worker_imports_no_database_layer() -> None:
    probe = (
        "import json, sys, imaging.worker; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] == 'sqlalchemy' or m in ('consult.center', 'consult.models'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []
