"""One lifecycle mechanism: every status goes through a transition table and one setter."""

from __future__ import annotations

import ast
import logging
import types
from pathlib import Path

import pytest

from consult.errors import InvalidTransition
from consult.lifecycle import Lifecycle
from consult.vocab import ReferralStatus as R

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("consult", "lab", "imaging", "ecg", "web", "signaling")
ALLOWED = {Path("consult/lifecycle.py")}


def _status_writes(path: Path) -> list[int]:
    """Lines of ``path`` that assign to an attribute named ``status`` (``x.status = ...``,
    augmented or annotated, tuple targets, ``setattr(x, "status", ...)``).

    ``self.status`` set in an ``__init__`` (an HTTP status kept by an exception) is not a state.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constructors = {
        id(sub)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef) and fn.name == "__init__"
        for sub in ast.walk(fn)
    }
    lines = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setattr":
            arg = node.args[1] if len(node.args) > 1 else None
            if isinstance(arg, ast.Constant) and arg.value == "status":
                lines.append(node.lineno)
        flat = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
        for target in flat:
            if not (isinstance(target, ast.Attribute) and target.attr == "status"):
                continue
            is_self = isinstance(target.value, ast.Name) and target.value.id == "self"
            if not (is_self and id(target) in constructors):
                lines.append(target.lineno)
    return lines


def test_nothing_writes_status_outside_the_lifecycle_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT) not in ALLOWED
        for line in _status_writes(path)
    ]
    assert offenders == [], "direct .status writes (use the entity's Lifecycle): " + ", ".join(
        offenders
    )


def test_the_scan_finds_a_direct_write(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "def f(x, y):\n    x.status = 'final'\n    setattr(x, 'status', 1)\n"
        "    y.a, y.status = 1, 2\n    x.status += 1\n    d[x.status] = 3\n"
    )
    assert sorted(_status_writes(sample)) == [2, 3, 4, 5]


def test_every_entity_declares_its_table() -> None:
    from consult import referrals, reports, requests
    from lab import orders, results, specimens

    for module in (requests, reports, referrals, orders, specimens, results):
        assert isinstance(module.LIFECYCLE, Lifecycle), module.__name__


def test_the_setter_checks_logs_and_stamps(caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle(
        "referral",
        {
            R.OPENED: {R.ACCEPTED},
            R.ACCEPTED: set(),
            R.ARRIVED: set(),
            R.CLOSED: set(),
            R.CANCELLED: set(),
        },
    )
    row = types.SimpleNamespace(id=7, status=R.OPENED, updated_at=None)
    with caplog.at_level(logging.INFO, logger="consult.lifecycle"):
        assert life.set(row, R.ACCEPTED, "now") is True  # type: ignore[arg-type]
    assert row.status is R.ACCEPTED and row.updated_at == "now"
    assert "referral 7 state opened -> accepted" in caplog.text
    with pytest.raises(InvalidTransition, match="cannot go from accepted to closed"):
        life.set(row, R.CLOSED)
    assert row.status is R.ACCEPTED


def test_a_table_must_cover_every_state() -> None:
    with pytest.raises(ValueError, match="states without a row"):
        Lifecycle("referral", {R.OPENED: {R.ACCEPTED}})
