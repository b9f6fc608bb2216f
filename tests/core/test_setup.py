"""Settings, migrations and the CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from consult import migrate
from consult.db import Base, import_all_tables, make_engine
from tests.conftest import Database
from web import cli
from web.settings import SettingsError, load_settings


def test_settings_layering(tmp_path: Path) -> None:
    config = tmp_path / "tc.toml"
    config.write_text('[telecenter]\nport = 9000\nhost = "0.0.0.0"\ndicom_aet = "COUNTY"\n')
    s = load_settings(
        config,
        environ={"TELECENTER_PORT": "9100", "TELECENTER_STUN_URLS": "stun:a:3478,stun:b:3478"},
        overrides={"host": None, "dicom_port": 0},
    )
    assert (s.port, s.host, s.dicom_aet, s.dicom_port) == (9100, "0.0.0.0", "COUNTY", 0)
    assert s.stun_urls == ["stun:a:3478", "stun:b:3478"]
    assert s.db_url.startswith("sqlite+aiosqlite:///") and s.db_url.endswith("var/telecenter.db")


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("[telecenter]\nport = 70000\n", {}, "port"),
        ("[telecenter]\nport = \n", {}, "not valid TOML"),
        ("", {"TELECENTER_DICOM_AET": "A" * 17}, "dicom_aet"),
        ("", {"TELECENTER_DATABASE_URL": "mysql://x"}, "database_url"),
        ("[telecenter]\nbogus = 1\n", {}, "bogus"),
        (
            "[telecenter]\nturnaround_minutes = {ecg_read = {stat = 0, urgent = 1, routine = 2}}\n",
            {},
            "turnaround",
        ),
    ],
)
def test_settings_errors_name_the_setting(
    tmp_path: Path, content: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "tc.toml"
    config.write_text(content)
    with pytest.raises(SettingsError, match=message):
        load_settings(config, environ=env)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


async def test_migrations_match_the_models(database: Database) -> None:
    engine = make_engine(database.url, schema=database.schema or None)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        import_all_tables()
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        await engine.dispose()


CHEAP_HASHING = {
    "TELECENTER_ARGON2_TIME_COST": "1",
    "TELECENTER_ARGON2_MEMORY_KIB": "1024",
    "TELECENTER_ARGON2_PARALLELISM": "1",
}


def test_the_cli_entry_point_runs(tmp_path: Path) -> None:
    """``python -m web.cli`` as installed; the commands themselves run in-process below."""
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, **CHEAP_HASHING},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for command in ("serve", "db", "demo", "user", "audit", "ecg", "backup"):
        assert command in done.stdout


class Cli:
    """``telecenter`` commands run through :func:`web.cli.main` on one data directory."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
        self.data_dir, self.monkeypatch, self.capsys = tmp_path / "var", monkeypatch, capsys
        for name, value in CHEAP_HASHING.items():
            monkeypatch.setenv(name, value)

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str]:
        """Exit status and standard error of one command."""
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        try:
            code = cli.main([*args, "--data-dir", str(self.data_dir)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, self.capsys.readouterr().err


def test_cli_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    run = Cli(tmp_path, monkeypatch, capsys)
    assert run("db", "upgrade")[0] == 0
    assert run("demo")[0] == 0
    add = ("user", "add", "dr-new", "--role", "village_doctor", "--institution", "vc-hekou")
    added = run(*add, stdin="a-strong-password\n")
    assert added[0] == 0, added[1]
    dup = run(*add, stdin="a-strong-password\n")
    assert dup[0] == 1 and "taken" in dup[1]
    assert run("user", "passwd", "dr-new", stdin="another-password\n")[0] == 0
    assert run("user", "passwd", "ghost", stdin="another-password\n")[0] == 1
    bad = run("serve", "--port", "99999")
    assert bad[0] == 2 and "port" in bad[1]
