"""A throwaway PostgreSQL 15 server for the tests: initdb into a temporary directory, started on a
free 127.0.0.1 port, password authentication over TCP, stopped and removed afterwards.

When the tests run as root (as CI does), initdb and the server run as the unprivileged `postgres`
user, which owns the directory. The bundled example's data is loaded into database `shop`, readable
by role `reader` (SELECT only) and writable by role `writer`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from slm_distill.tools.workspace.jobs import free_port

PG_BIN = Path(os.environ.get("SLM_DISTILL_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPER_PASSWORD = "super-Secret-pw-4f1c"  # planted: no report, log or file may ever show it
READER_PASSWORD = "reader-Secret-pw-9a2e"
WRITER_PASSWORD = "writer-Secret-pw-77b0"
EXAMPLE_SCHEMA = Path(__file__).resolve().parents[1] / "examples" / "text2sql" / "schema.sql"


@dataclass
class PgServer:
    base: Path
    port: int

    def url(self, user: str = "reader", db: str = "shop", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{db}"

    def connect(self, db: str = "shop") -> psycopg.Connection:
        return psycopg.connect(self.url("postgres", db), password=SUPER_PASSWORD, autocommit=True)

    def create_database(self, name: str, sql: str | None = None) -> None:
        """A database `name` (its tables from `sql`, run as the superuser), readable by reader."""
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with self.connect(name) as conn:
            if sql:
                conn.execute(sql)
            conn.execute(f'GRANT CONNECT ON DATABASE "{name}" TO reader, writer')
            conn.execute("GRANT USAGE ON SCHEMA public TO reader, writer")
            conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
            conn.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                         "TO writer")

    def counts(self, db: str = "shop") -> dict[str, int]:
        """Rows per table, and the database's write counters from pg_stat_database."""
        with self.connect(db) as conn:
            self._wait_for_others_to_leave(conn, db)  # a backend flushes its counters as it exits
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
            out = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
            conn.execute("SELECT pg_stat_force_next_flush()")
            row = conn.execute("SELECT tup_inserted, tup_updated, tup_deleted FROM "
                               "pg_stat_database WHERE datname = %s", (db,)).fetchone()
        out["#writes"] = sum(row)
        return out

    @staticmethod
    def _wait_for_others_to_leave(conn: psycopg.Connection, db: str, wait_s: float = 10.0) -> None:
        deadline = time.monotonic() + wait_s
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                           "pg_backend_pid()", (db,)).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)


def _as_postgres() -> dict:
    """subprocess arguments that run a command as the postgres user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": pwd.getpwnam("postgres").pw_gid}


def _run(args: list[str], **kw: object) -> None:
    done = subprocess.run(args, capture_output=True, text=True, **_as_postgres(), **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")


@contextlib.contextmanager
def pg_server():
    """Start the server, create the roles and the example database; stop and remove it after."""
    initdb = PG_BIN / "initdb"
    if not initdb.is_file():
        raise RuntimeError(f"{initdb} is missing: install PostgreSQL 15 server binaries "
                           "(Debian: postgresql-15), as `make install` does")
    base = Path(tempfile.mkdtemp(prefix="distill-pg-"))
    if os.geteuid() == 0:
        os.chown(base, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
    data, pwfile = base / "data", base / "pw"
    pwfile.write_text(SUPER_PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    port = free_port()
    started = False
    try:
        _run([str(initdb), "-D", str(data), "-U", "postgres", "--auth-local=trust",
              "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"])
        options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off "
                   "-c track_counts=on -c autovacuum=off -c max_connections=60")
        # (autovacuum's statistics would count as writes in pg_stat_database)
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
              "-w", "-t", "60", "start"])
        started = True
        server = PgServer(base, port)
        _wait(server)
        with server.connect("postgres") as conn:
            conn.execute(f"CREATE ROLE reader LOGIN PASSWORD '{READER_PASSWORD}'")
            conn.execute(f"CREATE ROLE writer LOGIN PASSWORD '{WRITER_PASSWORD}'")
        server.create_database("shop", EXAMPLE_SCHEMA.read_text(encoding="utf-8"))
        yield server
    finally:
        if started:
            subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                            "stop"], capture_output=True, **_as_postgres())
        shutil.rmtree(base, ignore_errors=True)


def _wait(server: PgServer, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            server.connect("postgres").close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
