"""Projects on SQLite files and PostgreSQL servers: `distill init --db` recognises the engine, a
bad path, file, server or credential is one line (exit 2) that leaves nothing behind, and a
PostgreSQL password never lands in the project (configuration, reports, logs, cache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from slm_distill.tools.cli import main
from slm_distill.tools.workspace.jobs import free_port
from slm_distill.tools.workspace.project import Project
from tests.conftest import EXAMPLE_TEACHER, seeds_in, sqlite_example
from tests.pgserver import EXAMPLE_SCHEMA, READER_PASSWORD, SUPER_PASSWORD, WRITER_PASSWORD
from tests.test_engines import digest


def init_fails(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(["init", *args, "--teacher", EXAMPLE_TEACHER])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not Path(args[0]).exists()  # bad input leaves no project behind
    assert any(fix in err.lower() for fix in ("pass ", "fix:", "load ", "give ", "check ")), err
    return err


def test_init_on_a_sqlite_file_makes_a_sqlite_project(tmp_path, capsys):
    db = sqlite_example(tmp_path / "shop.sqlite")
    main(["init", str(tmp_path / "p"), "--db", str(db), "--teacher", EXAMPLE_TEACHER])
    out = capsys.readouterr().out
    assert f"SQLite {db}" in out
    project = Project.load(tmp_path / "p")
    assert project.config.task.engine == "sqlite"
    main(["seeds", "add", str(seeds_in("sqlite", tmp_path / "seeds.jsonl")),
          "--project", str(tmp_path / "p")])
    assert len(project.seeds()) == 80


def test_mcp_init_project_on_a_sqlite_file(tmp_path):
    """init_project(db_file=...) as the skill says: the engine read from the file's header, the
    dialect in project_status; a file that is no database is one line and leaves nothing."""
    import asyncio

    from mcp import Client

    from slm_distill.server.app import build_server

    sqlite_example(tmp_path / "shop.sqlite")
    (tmp_path / "notes.txt").write_text("not a database\n")

    async def run() -> tuple[dict, dict, str]:
        async with Client(build_server(tmp_path)) as c:
            made = await c.call_tool("init_project", {
                "project_dir": "p", "db_file": "shop.sqlite", "teacher": EXAMPLE_TEACHER})
            status = await c.call_tool("project_status", {"project_dir": "p"})
            bad = await c.call_tool("init_project", {
                "project_dir": "bad", "db_file": "notes.txt", "teacher": EXAMPLE_TEACHER})
            return made.structured_content, status.structured_content, bad.content[0].text

    made, status, bad = asyncio.run(run())
    assert made["database"].startswith("SQLite ") and "SQLite" in json.dumps(status)
    assert Project.load(tmp_path / "p").config.task.engine == "sqlite"
    assert "neither a DuckDB nor a SQLite database" in bad and len(bad.splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_bad_database_files_are_one_line_and_leave_nothing(tmp_path, capsys):
    target = tmp_path / "p"
    err = init_fails(capsys, str(target), "--db", str(tmp_path / "missing.sqlite"))
    assert "no such database file" in err
    (tmp_path / "notes.txt").write_text("not a database\n")
    err = init_fails(capsys, str(target), "--db", str(tmp_path / "notes.txt"))
    assert "neither a DuckDB nor a SQLite database" in err
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 84)
    err = init_fails(capsys, str(target), "--db", str(broken))
    assert "SQLite cannot open it" in err
    empty = tmp_path / "empty.sqlite"
    import sqlite3

    sqlite3.connect(empty).execute("PRAGMA user_version = 1").connection.close()
    assert "holds no tables" in init_fails(capsys, str(target), "--db", str(empty))
    assert not target.exists()


def test_bad_servers_and_credentials_are_one_line_and_leave_nothing(pg, tmp_path, capsys,
                                                                   monkeypatch):
    target = tmp_path / "p"
    closed = f"postgresql://reader@127.0.0.1:{free_port()}/shop"
    err = init_fails(capsys, str(target), "--db", closed)
    assert "Cannot connect to PostgreSQL" in err and "server runs" in err
    wrong = "not-the-Password-3c1d"
    err = init_fails(capsys, str(target), "--db", pg.url(password=wrong))
    assert "password" in err and wrong not in err
    monkeypatch.setenv("PGPASSWORD", wrong)
    err = init_fails(capsys, str(target), "--db", pg.url())
    assert "PGPASSWORD" in err and wrong not in err
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    err = init_fails(capsys, str(target), "--db", pg.url(db="nowhere"))
    assert "does not exist" in err
    err = init_fails(capsys, str(target), "--db-url", "mysql://x@127.0.0.1/shop")
    assert "postgresql://" in err
    assert not target.exists()


def test_init_on_postgres_keeps_no_password_and_warns_about_write_rights(pg, tmp_path, capsys,
                                                                         monkeypatch):
    main(["init", str(tmp_path / "w"), "--db", pg.url("writer", password=WRITER_PASSWORD),
          "--teacher", EXAMPLE_TEACHER])
    captured = capsys.readouterr()
    assert "was not stored" in captured.err and "can write to 6 tables" in captured.err
    assert WRITER_PASSWORD not in captured.out + captured.err
    config = yaml.safe_load((tmp_path / "w" / "distill.yaml").read_text())
    assert config["task"]["engine"] == "postgres"
    assert config["task"]["db_url"] == pg.url("writer")
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    main(["init", str(tmp_path / "r"), "--db", pg.url(), "--teacher", EXAMPLE_TEACHER])
    captured = capsys.readouterr()
    assert "can write" not in captured.err and f"PostgreSQL {pg.url()}" in captured.out
    assert "superuser" not in captured.err
    main(["init", str(tmp_path / "s"), "--db", pg.url("postgres", password=SUPER_PASSWORD),
          "--teacher", EXAMPLE_TEACHER])
    captured = capsys.readouterr()
    assert "this user is superuser" in captured.err and "pg_read_file" in captured.err
    assert SUPER_PASSWORD not in captured.out + captured.err


def test_a_password_never_reaches_the_project(pg, tmp_path, capsys, monkeypatch):
    """Through init, seeds, the gate, generation and a failing command, with the password in the
    URL and then in PGPASSWORD: no file under the project holds it, nor any output."""
    root = str(tmp_path / "p")
    main(["init", root, "--db", pg.url(password=READER_PASSWORD), "--teacher", EXAMPLE_TEACHER,
          "--student", "scratch:tiny"])
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    main(["seeds", "add", str(seeds_in("postgres", tmp_path / "seeds.jsonl")), "--project", root])
    main(["validate-teacher", "--project", root])
    main(["generate", "--n", "60", "--project", root])
    main(["config", "set", "task.timeout_s", "2", "--project", root])
    with pytest.raises(SystemExit):
        main(["config", "set", "task.db_url", pg.url(password="planted-Pw-55"), "--project", root])
    monkeypatch.setenv("PGPASSWORD", "wrong-Pw-8e1f")
    with pytest.raises(SystemExit):
        main(["validate-teacher", "--project", root])
    captured = capsys.readouterr()
    for secret in (READER_PASSWORD, "planted-Pw-55", "wrong-Pw-8e1f"):
        assert secret not in captured.out + captured.err
        for path in Path(root).rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    report = json.loads((Path(root) / "reports" / "generation.json").read_text())
    assert report["kept"] > 0


@pytest.mark.parametrize("how", ["pgpass", "password_env"])
def test_a_password_from_pgpass_or_a_named_variable_stays_out_too(pg, tmp_path, capsys,
                                                                   monkeypatch, how):
    """The other two places a password may live: libpq's ~/.pgpass, and the variable that
    `--password-env` names (recorded by its name only)."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    extra: list[str] = []
    if how == "pgpass":
        home = tmp_path / "home"
        home.mkdir()
        (home / ".pgpass").write_text(f"127.0.0.1:{pg.port}:shop:reader:{READER_PASSWORD}\n")
        (home / ".pgpass").chmod(0o600)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("PGPASSFILE", str(home / ".pgpass"))
    else:
        monkeypatch.setenv("SHOP_READER_PW", READER_PASSWORD)
        extra = ["--password-env", "SHOP_READER_PW"]
    root = tmp_path / "p"
    main(["init", str(root), "--db", pg.url(), *extra, "--teacher", EXAMPLE_TEACHER])
    main(["seeds", "add", str(seeds_in("postgres", tmp_path / "seeds.jsonl")), "--project",
          str(root)])
    main(["validate-teacher", "--project", str(root)])
    captured = capsys.readouterr()
    assert READER_PASSWORD not in captured.out + captured.err
    for path in root.rglob("*"):
        if path.is_file():
            assert READER_PASSWORD.encode() not in path.read_bytes(), path
    config = yaml.safe_load((root / "distill.yaml").read_text())
    assert config["task"]["password_env"] == ("SHOP_READER_PW" if extra else None)


def test_a_sqlite_dump_keeps_64_bit_integers_and_text(tmp_path):
    """`--schema dump.sql --dialect sqlite` builds a DuckDB copy: SQLite's INTEGER is 64 bits
    (BIGINT, not DuckDB's 32-bit INT), and text-typed columns keep their text ('007')."""
    import sqlite3

    import duckdb

    conn = sqlite3.connect(tmp_path / "s.sqlite")
    conn.executescript("""
        CREATE TABLE "singer" ("Singer_ID" int, "Name" text, "Net_Worth" INTEGER, "Code" text,
                               PRIMARY KEY ("Singer_ID"));
        INSERT INTO singer VALUES (1, 'Joe', 3000000000, '007'), (2, 'Ann''s', 1980, 'A1');""")
    conn.commit()
    (tmp_path / "dump.sql").write_text("\n".join(conn.iterdump()), encoding="utf-8")
    conn.close()
    main(["init", str(tmp_path / "p"), "--schema", str(tmp_path / "dump.sql"), "--dialect",
          "sqlite", "--teacher", EXAMPLE_TEACHER])
    with duckdb.connect(str(tmp_path / "p" / "database.duckdb"), read_only=True) as db:
        assert db.execute("SELECT * FROM singer ORDER BY 1").fetchall() == [
            (1, "Joe", 3000000000, "007"), (2, "Ann's", 1980, "A1")]
        types = {r[0]: r[1] for r in db.execute("DESCRIBE singer").fetchall()}
    assert types == {"Singer_ID": "BIGINT", "Name": "VARCHAR", "Net_Worth": "BIGINT",
                     "Code": "VARCHAR"}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_the_example_end_to_end_on_its_own_engine(engine, tmp_path, capsys, monkeypatch, request):
    """The bundled example on a SQLite copy and on the PostgreSQL server: gate, generation (every
    pair run on that engine), training scratch:tiny, evaluation and export parity, with the
    student's prompt, the model card and the Modelfile naming the dialect."""
    from slm_distill.tools.tasks.database import ENGINE_LABELS
    from tests.conftest import cli_through_evaluate

    if engine == "sqlite":
        db = str(sqlite_example(tmp_path / "shop.sqlite"))
        before = digest(Path(db))
    else:
        pg = request.getfixturevalue("pg")
        pg.create_database("shop_e2e", EXAMPLE_SCHEMA.read_text(encoding="utf-8"))
        monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
        db = pg.url(db="shop_e2e")
        before = pg.counts("shop_e2e")
    root = str(tmp_path / "p")
    tiny = {"training.max_steps": "30", "training.eval_steps": "15", "training.eval_samples": "8",
            "training.max_new_tokens": "48", "training.batch_size": "8",
            "training.gradient_accumulation_steps": "1", "training.learning_rate": "2e-3",
            "training.loss_vocab": "answers", "training.early_stopping_patience": "null",
            "task.schema_in_student_prompt": "false"}
    cli_through_evaluate(root, ["--db", db, "--teacher", EXAMPLE_TEACHER, "--student",
                                "scratch:tiny"], seeds_in(engine, tmp_path / "seeds.jsonl"),
                         tiny, pairs=150)
    main(["export", "--quant", "q8_0", "--project", root])
    capsys.readouterr()
    project = Project.load(Path(root))
    label = ENGINE_LABELS[engine]
    gate = json.loads((Path(root) / "reports" / "teacher_validation.json").read_text())
    assert gate["passed"], gate
    task = project.task()
    try:
        assert task.dialect == engine
        pairs = [json.loads(line) for line in
                 (Path(root) / "data" / "pairs.jsonl").read_text().splitlines()]
        assert len(pairs) >= 100
        for pair in pairs:  # every kept pair runs on the project's own engine
            assert task.sandbox.execute(pair["output"]).rows, pair
        assert f"{label} SQL" in task.student_messages("q")[0]["content"]
        assert label in task.teacher_messages("q")[0]["content"]
    finally:
        task.close()
    evaluation = json.loads((Path(root) / "reports" / "eval.json").read_text())
    teacher = next(r for r in evaluation["results"] if r["name"] == "teacher")
    assert teacher["metrics"]["execution_accuracy"] > 0.8
    export = json.loads((Path(root) / "reports" / "export.json").read_text())
    assert export["parity_ok"], export
    assert f"{label} SQL" in (Path(root) / "exports" / "README.md").read_text()
    assert f"{label} SQL" in (Path(root) / "exports" / "Modelfile").read_text()
    assert (pg.counts("shop_e2e") if engine == "postgres" else digest(Path(db))) == before


def test_mcp_init_project_on_postgres_says_what_the_user_must_know(pg, tmp_path, monkeypatch):
    """Over MCP as the skill says: db_url without a password, PGPASSWORD in the server's
    environment; the result's notes warn about a user that can write; bad credentials are a
    one-line tool error without the password; nothing is left behind."""
    import asyncio

    from mcp import Client

    from slm_distill.server.app import build_server

    async def run() -> tuple[dict, str, str]:
        async with Client(build_server(tmp_path)) as c:
            monkeypatch.setenv("PGPASSWORD", WRITER_PASSWORD)
            made = await c.call_tool("init_project", {
                "project_dir": "w", "db_url": pg.url("writer"), "teacher": EXAMPLE_TEACHER})
            monkeypatch.setenv("PGPASSWORD", "wrong-Pw-1a2b")
            bad = await c.call_tool("init_project", {
                "project_dir": "bad", "db_url": pg.url(), "teacher": EXAMPLE_TEACHER})
            planted = await c.call_tool("init_project", {
                "project_dir": "planted", "db_file": pg.url(password="wrong-Pw-1a2b"),
                "teacher": EXAMPLE_TEACHER})
            return made.structured_content, bad.content[0].text, planted.content[0].text

    made, bad, planted = asyncio.run(run())
    assert made["database"] == f"PostgreSQL {pg.url('writer')}"
    assert any("can write to 6 tables" in note for note in made["notes"])
    for text in (bad, planted):
        assert "password" in text and "wrong-Pw-1a2b" not in text and len(text.splitlines()) <= 2
    assert not (tmp_path / "bad").exists() and not (tmp_path / "planted").exists()
    assert WRITER_PASSWORD not in json.dumps(made)


@pytest.mark.slow
def test_the_example_through_every_tool_on_postgres(pg, tmp_path, monkeypatch):
    """The skill's order of MCP tools, on a PostgreSQL database: init_project(db_url=...) through
    export_gguf, with no password anywhere in the project afterwards."""
    import asyncio

    from mcp import Client

    from slm_distill.server.app import build_server
    from tests.mcp_client import every_stage

    pg.create_database("shop_mcp", EXAMPLE_SCHEMA.read_text(encoding="utf-8"))
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    seeds_in("postgres", tmp_path / "seeds.jsonl")
    tiny = {"training.max_steps": "20", "training.eval_steps": "10", "training.eval_samples": "4",
            "training.max_new_tokens": "48", "training.batch_size": "8",
            "training.learning_rate": "2e-3", "training.loss_vocab": "answers",
            "training.early_stopping_patience": "null", "task.schema_in_student_prompt": "false"}

    async def run() -> dict:
        async with Client(build_server(tmp_path)) as c:
            return await every_stage(c, "shop", {"db_url": pg.url(db="shop_mcp"),
                                                 "teacher": EXAMPLE_TEACHER,
                                                 "student": "scratch:tiny"}, tiny, pairs=120,
                                     improve_steps=5)

    out = asyncio.run(run())
    assert out["init"]["database"].startswith("PostgreSQL postgresql://reader@")
    assert out["gate"]["passed"]
    results = {r["name"]: r for r in out["evaluated"]["result"]["results"]}
    assert results["teacher"]["metrics"]["execution_accuracy"] > 0.8
    assert out["exported"]["result"]["parity_ok"]
    assert READER_PASSWORD not in json.dumps(out, default=str)  # every tool result, job status
    for path in (tmp_path / "shop").rglob("*"):
        if path.is_file():
            assert READER_PASSWORD.encode() not in path.read_bytes(), path


def test_a_database_given_as_a_schema_file_says_to_pass_it_as_db(tmp_path, capsys):
    db = sqlite_example(tmp_path / "shop.sqlite")
    err = init_fails(capsys, str(tmp_path / "p"), "--schema", str(db))
    assert "is a SQLite database, not a SQL file: pass it as `--db` instead" in err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_every_template_of_the_example_teacher_runs_on_each_engine(engine, tmp_path, request):
    """The offline teacher writes each engine's SQL: five fillings of each of its templates run
    there (sqlglot's translation, with the example's own fixes for dates)."""
    import random

    from slm_distill.examples.text2sql import teacher as rules
    from slm_distill.tools.tasks.database import DatabaseSource

    if engine == "sqlite":
        source = DatabaseSource("sqlite", path=sqlite_example(tmp_path / "shop.sqlite"))
    else:
        source = DatabaseSource("postgres", url=request.getfixturevalue("pg").url(),
                                password=READER_PASSWORD)
    with source.open() as db:
        teacher = rules.RuleTeacher()
        teacher._load({"task": "text2sql", "dialect": engine, "db_path": None, "schema": engine,
                       "query": lambda sql: db.execute(sql).rows})
        failed = {}
        for template in rules.TEMPLATES:
            for i in range(5):
                sql = teacher._sample(template, random.Random(i), {})["output"]
                try:
                    db.execute(sql)
                except Exception as exc:  # noqa: BLE001 - collected, then reported together
                    failed[template.key] = (sql, str(exc))
    assert not failed, failed
