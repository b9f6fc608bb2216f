"""Settings, migrations and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from consult import migrate
from consult.db import Base, import_all_tables, make_engine
from tests.conftest import Database
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


def _cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TELECENTER_ARGON2_TIME_COST": "1",
        "TELECENTER_ARGON2_MEMORY_KIB": "1024",
        "TELECENTER_ARGON2_PARALLELISM": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args, "--data-dir", str(tmp_path / "var")],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_commands(tmp_path: Path) -> None:
    help_text = _cli(tmp_path, "--help").stdout
    for command in ("serve", "db", "demo", "user", "audit"):
        assert command in help_text
    assert _cli(tmp_path, "db", "upgrade").returncode == 0
    assert _cli(tmp_path, "demo").returncode == 0
    added = _cli(
        tmp_path,
        "user",
        "add",
        "dr-new",
        "--role",
        "village_doctor",
        "--institution",
        "vc-hekou",
        stdin="a-strong-password\n",
    )
    assert added.returncode == 0, added.stderr
    dup = _cli(
        tmp_path,
        "user",
        "add",
        "dr-new",
        "--role",
        "village_doctor",
        "--institution",
        "vc-hekou",
        stdin="a-strong-password\n",
    )
    assert dup.returncode == 1 and "taken" in dup.stderr
    assert _cli(tmp_path, "user", "passwd", "dr-new", stdin="another-password\n").returncode == 0
    assert _cli(tmp_path, "user", "passwd", "ghost", stdin="another-password\n").returncode == 1
    bad = _cli(tmp_path, "serve", "--port", "99999")
    assert bad.returncode == 2 and "port" in bad.stderr
