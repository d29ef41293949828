"""Backup and restore of a site: its database and its data directory, in one tar.

The archive holds

* ``forgeyard-backup.json`` — the manifest: format version, when, the database
  kind, its schema revision and the data directory it came from;
* ``database.dump`` (PostgreSQL, ``pg_dump --format=custom``, restored with
  ``pg_restore`` in one transaction) or ``database.sqlite`` (a consistent copy
  made with SQLite's online backup API) — runs, steps, traces, checkpoints,
  tenants, reward models, training jobs, the adapter registry;
* ``data/…`` — the data directory: models, training output with the adapters,
  reports; not the SQLite files (copied above), logs or the beat schedule.

A restore checks the archive before it writes anything, refuses to replace a
database that has a schema unless forced, brings the restored schema to this
release's head, and, when the data directory moved, rewrites the stored
adapter and training-output paths to the new place.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from forgeyard import checkpoints, db
from forgeyard.settings import Settings, child_environment, get_settings

__all__ = ["BackupError", "BackupSummary", "backup", "restore"]

MANIFEST = "forgeyard-backup.json"
FORMAT = 1
# Not worth keeping, or copied another way (the SQLite database).
_SKIPPED_DATA = ("logs", "celerybeat-schedule")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds (or a restore brought back)."""

    archive: Path
    database: str  # "postgresql" or "sqlite"
    revision: str | None
    files: int
    data_bytes: int


# -- backup --------------------------------------------------------------------------
def backup(archive: Path, settings: Settings | None = None) -> BackupSummary:
    """Write the database and the data directory to ``archive`` (a .tar or .tar.gz)."""
    settings = settings or get_settings()
    url = settings.resolved_database_url
    data_dir = settings.data_dir.resolve()
    revision = db.current_revision(url)
    if revision is None:
        raise BackupError(f"{_safe(url)} has no schema: nothing to back up")
    archive = archive.resolve()
    partial = archive.with_name(archive.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="forgeyard-backup-") as tmp:
        if _is_sqlite(url):
            dump, kind = Path(tmp) / "database.sqlite", "sqlite"
            _sqlite_copy(_sqlite_path(url), dump)
        else:
            dump, kind = Path(tmp) / "database.dump", "postgresql"
            _run_pg("pg_dump", url, ["--format=custom", f"--file={dump}"])
        files = list(_data_files(data_dir, url, exclude=archive))
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "database": kind,
            "revision": revision,
            "data_dir": str(data_dir),
        }
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=2))
        # Written beside the target and renamed: an archive is whole or absent.
        with tarfile.open(partial, "w:gz" if archive.name.endswith(".gz") else "w") as tar:
            tar.add(Path(tmp) / MANIFEST, MANIFEST)
            tar.add(dump, dump.name)
            for path in files:
                tar.add(path, f"data/{path.relative_to(data_dir)}", recursive=False)
    partial.replace(archive)
    return BackupSummary(archive, kind, revision, len(files), sum(p.stat().st_size for p in files))


def _data_files(data_dir: Path, url: str, *, exclude: Path) -> Iterator[Path]:
    if not data_dir.is_dir():
        return
    skipped = {data_dir / name for name in _SKIPPED_DATA}
    if _is_sqlite(url):
        database = _sqlite_path(url)
        # The database travels through SQLite's backup API, not as files (its
        # schema lock is the upgrade's, not data).
        skipped |= {
            database,
            Path(f"{database}-wal"),
            Path(f"{database}-shm"),
            Path(f"{database}.schema.lock"),
        }
    for root, dirs, names in os.walk(data_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if here / d not in skipped)
        for name in sorted(names):
            path = here / name
            if path in skipped or path.name.startswith("celerybeat-schedule"):
                continue
            if path.resolve() == exclude or path.name == exclude.name + ".partial":
                continue  # the archive itself, when it is written inside data_dir
            if path.is_file() and not path.is_symlink():
                yield path


def _sqlite_copy(source: Path, target: Path) -> None:
    # The online backup API copies a consistent snapshot even while workers write.
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


# -- restore -------------------------------------------------------------------------
def restore(
    archive: Path, *, force: bool = False, settings: Settings | None = None
) -> BackupSummary:
    """Bring back the database and the data directory from ``archive``.

    Args:
        archive: A file written by :func:`backup`.
        force: Replace a database that already has a schema (otherwise refused).
        settings: Where to restore to (default: this process's settings).
    """
    settings = settings or get_settings()
    url = settings.resolved_database_url
    data_dir = settings.data_dir.resolve()
    if not archive.is_file() or not tarfile.is_tarfile(archive):
        raise BackupError(f"{archive}: no such file, or not a tar archive")
    with (
        tarfile.open(archive) as tar,
        tempfile.TemporaryDirectory(prefix="forgeyard-restore-") as tmp,
    ):
        manifest = _read_manifest(tar, archive)
        kind = manifest["database"]
        if kind != ("sqlite" if _is_sqlite(url) else "postgresql"):
            raise BackupError(
                f"{archive} holds a {kind} database but DATABASE_URL is {_safe(url)}; "
                "restore into the same kind of database"
            )
        known = [revision.id for revision in db.history()]
        if manifest["revision"] not in known:
            raise BackupError(
                f"{archive} is at schema revision {manifest['revision']}, which this "
                "release does not know (made by a newer release?): restore with that release"
            )
        dump_name = "database.sqlite" if kind == "sqlite" else "database.dump"
        data_members = [m for m in tar.getmembers() if m.name.startswith("data/")]
        tar.extractall(tmp, members=[tar.getmember(dump_name)], filter="data")
        dump = Path(tmp) / dump_name

        db.get_engine().dispose()  # no pooled connection may hold the old database
        checkpoints.close_shared()
        if kind == "sqlite":
            _restore_sqlite(dump, _sqlite_path(url), force=force)
        else:
            _restore_postgres(dump, url, force=force)
        db.upgrade(url)  # an older backup comes up to this release's schema

        data_dir.mkdir(parents=True, exist_ok=True)
        for member in data_members:
            member.name = member.name.removeprefix("data/")
        tar.extractall(data_dir, members=data_members, filter="data")
    old_dir = manifest["data_dir"]
    if old_dir != str(data_dir):
        _relocate_paths(url, old_dir, str(data_dir))
    size = sum(m.size for m in data_members if m.isfile())
    return BackupSummary(archive, kind, manifest["revision"], len(data_members), size)


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    try:
        member = tar.extractfile(MANIFEST)
        manifest = json.loads(member.read()) if member else None
    except (KeyError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: no {MANIFEST} of format {FORMAT}; not a Forgeyard backup")
    names = set(tar.getnames())
    dump = "database.sqlite" if manifest.get("database") == "sqlite" else "database.dump"
    if dump not in names:
        raise BackupError(f"{archive}: the manifest names a {dump}, which is missing")
    return manifest


def _has_schema(url: str) -> bool:
    return db.current_revision(url) is not None


def _refuse_existing(url: str, force: bool) -> None:
    if not force and _has_schema(url):
        raise BackupError(
            f"{_safe(url)} already has a Forgeyard schema; restoring replaces it: "
            "pass --force to do so (take a backup of it first)"
        )


def _restore_sqlite(dump: Path, target: Path, *, force: bool) -> None:
    if target.exists():
        _refuse_existing(f"sqlite:///{target}", force)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Through the backup API into the live file, so its WAL stays consistent.
    _sqlite_copy(dump, target)


def _restore_postgres(dump: Path, url: str, *, force: bool) -> None:
    if _create_database_if_missing(url):
        args = []
    else:
        _refuse_existing(url, force)
        args = ["--clean", "--if-exists"]
    # One transaction: a failed restore leaves the database as it was.
    _run_pg(
        "pg_restore",
        url,
        [*args, "--no-owner", "--exit-on-error", "--single-transaction", str(dump)],
    )


def _create_database_if_missing(url: str) -> bool:
    """Create the URL's database when it does not exist (after a loss); whether it did."""
    import psycopg
    from psycopg import sql

    target = make_url(url)
    maintenance = _libpq(target.set(database="postgres"))
    with psycopg.connect(maintenance[0], autocommit=True, **maintenance[1]) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)
        ).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database or "")))
    return True


def _relocate_paths(url: str, old: str, new: str) -> None:
    # Adapters and training output are stored by absolute path; the files now
    # live under the new data directory.
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            for table, column in (("adapters", "path"), ("training_jobs", "output_dir")):
                conn.execute(
                    text(
                        f"UPDATE {table} SET {column} = :new || substr({column}, :cut) "
                        f"WHERE substr({column}, 1, :length) = :old"
                    ),
                    {"new": new, "old": old, "cut": len(old) + 1, "length": len(old)},
                )
    finally:
        engine.dispose()


# -- PostgreSQL tools ------------------------------------------------------------------
def _libpq(url: URL) -> tuple[str, dict[str, Any]]:
    """A libpq connection string without the password, and the password apart."""
    conninfo = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return conninfo, ({"password": url.password} if url.password else {})


def _run_pg(tool: str, url: str, args: list[str]) -> None:
    if shutil.which(tool) is None:
        raise BackupError(f"`{tool}` is not installed: install the PostgreSQL client tools")
    conninfo, secret = _libpq(make_url(url))
    # The password goes by environment, never on a command line others can read.
    env = child_environment(**({"PGPASSWORD": str(secret["password"])} if secret else {}))
    done = subprocess.run(
        [tool, f"--dbname={conninfo}", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BackupError(f"{tool} failed for {_safe(url)}: {done.stderr.strip()[-2000:]}")


# -- helpers ---------------------------------------------------------------------------
def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url}: an in-memory SQLite database cannot be backed up")
    return Path(database).resolve()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
