"""Shared fixtures. No test reaches the network: provider SDKs talk to tests/fakeprovider.py.

Markers: `slow` (trains, exports or runs jobs: torch and llama.cpp) and `network` (installs npm
packages). `make test-fast` runs the rest with SLM_DISTILL_FAST_TESTS=1, and then a test that
imports a heavy library fails, naming it: mark that test slow. Every test gets a time limit from
the budgets below, scaled for a loaded machine (see `_time_scale`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "text2sql"


def _shared_data() -> Path:
    """The public datasets some tests read (`shared/data`): where SLM_DISTILL_SHARED_DATA says,
    else beside this checkout, else beside the workplace's main checkout (/work/shared/data, for
    a clone made elsewhere, as CI's is)."""
    candidates = [os.environ.get("SLM_DISTILL_SHARED_DATA"), REPO.parent / "shared" / "data",
                  "/work/shared/data"]
    found = [Path(c) for c in candidates if c and Path(c).is_dir()]
    return found[0] if found else REPO.parent / "shared" / "data"


SHARED_DATA = _shared_data()
EXAMPLE_TEACHER = "python:slm_distill.examples.text2sql.teacher:TEACHER"


# Per-test limits in seconds. Measured on two idle cores (2026-11-29): the slowest fast test took
# about 5 s and the slowest slow test about 150 s, besides the demo test (about 5 minutes), which
# carries its own `budget` marker. The limits leave 4-10x headroom before scaling.
BUDGET_S = {"fast": 60, "slow": 900}
HEAVY = ("torch", "transformers", "llama_cpp", "peft", "trl", "accelerate")
FAST = os.environ.get("SLM_DISTILL_FAST_TESTS") == "1"


def _time_scale() -> float:
    """SLM_DISTILL_TEST_TIME_SCALE (default 1), times the load per core when above 1: the same
    test takes longer on a machine that is busy with something else."""
    scale = float(os.environ.get("SLM_DISTILL_TEST_TIME_SCALE", "1"))
    load = os.getloadavg()[0] / (os.cpu_count() or 1) if hasattr(os, "getloadavg") else 1.0
    return scale * max(1.0, load)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "budget(seconds): this test's time limit before scaling")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    scale = _time_scale()
    for item in items:
        marker = item.get_closest_marker("budget")
        kind = "slow" if item.get_closest_marker("slow") else "fast"
        seconds = marker.args[0] if marker else BUDGET_S[kind]
        item.add_marker(pytest.mark.timeout(int(seconds * scale)))


@pytest.fixture(autouse=True)
def _fast_tests_stay_light(request: pytest.FixtureRequest):
    """In the fast run, a test that loads a heavy library fails: it belongs under `slow`."""
    yield
    if FAST:
        loaded = [m for m in HEAVY if m in sys.modules]
        assert not loaded, f"{request.node.nodeid} imported {loaded}: mark it @pytest.mark.slow"


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real keys never reach a test; tests set fake ones where they need them."""
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL",
                "PGPASSWORD", "PGPASSFILE", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def provider():
    server = FakeProvider().start()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from slm_distill.tools.teachers.base import Teacher

    monkeypatch.setattr(Teacher, "backoff_base", 0.01)


@pytest.fixture(scope="session")
def _example_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from slm_distill.tools.workspace.project import add_seeds, init_project

    project = init_project(tmp_path_factory.mktemp("template") / "proj",
                           schema=EXAMPLE / "schema.sql", teacher=EXAMPLE_TEACHER,
                           student="scratch:tiny")
    add_seeds(project, EXAMPLE / "seeds.jsonl")
    return project.root


@pytest.fixture
def example_project(tmp_path: Path, _example_template: Path):
    """A fresh project built from the bundled example, with its seeds added (a copy of one built
    once per session)."""
    from slm_distill.tools.workspace.project import Project

    shutil.copytree(_example_template, tmp_path / "proj")
    return Project.load(tmp_path / "proj")


@pytest.fixture
def music_db(tmp_path: Path) -> Path:
    from slm_distill.tools.tasks.sqlload import load_sql_file

    target = tmp_path / "music.duckdb"
    load_sql_file(EXAMPLE / "schema.sql", target)
    return target


@pytest.fixture(scope="session")
def pg():
    """A throwaway PostgreSQL 15 server with the example's data in database `shop` (pgserver)."""
    from tests.pgserver import pg_server

    with pg_server() as server:
        yield server


def sqlite_example(target: Path) -> Path:
    """The bundled example's database as a SQLite file (its DuckDB DDL and INSERTs written for
    SQLite by sqlglot)."""
    import sqlite3

    import sqlglot

    text = (EXAMPLE / "schema.sql").read_text(encoding="utf-8")
    with sqlite3.connect(target) as conn:
        for statement in sqlglot.parse(text, read="duckdb"):
            if statement is not None:
                conn.execute(statement.sql(dialect="sqlite"))
    conn.close()
    return target


def seeds_in(dialect: str, target: Path) -> Path:
    """The bundled example's seeds with their SQL written in `dialect`, as the example's teacher
    writes its own."""
    from slm_distill.examples.text2sql.teacher import in_dialect

    lines = []
    for line in (EXAMPLE / "seeds.jsonl").read_text(encoding="utf-8").splitlines():
        seed = json.loads(line)
        seed["output"] = in_dialect(seed["output"], dialect)
        lines.append(json.dumps(seed))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def copy_example(tmp_path: Path) -> Path:
    dst = tmp_path / "example"
    shutil.copytree(EXAMPLE, dst)
    return dst


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinygguf import write_tiny_qwen2_gguf

    return write_tiny_qwen2_gguf(tmp_path_factory.mktemp("gguf") / "tiny-qwen2.gguf")


def tiny_training(project, **overrides) -> None:
    """Settings that train scratch:tiny in seconds."""
    t = project.config.training
    t.max_steps, t.eval_steps, t.eval_samples, t.max_new_tokens = 6, 3, 4, 24
    t.batch_size, t.gradient_accumulation_steps, t.learning_rate = 4, 1, 2e-3
    t.loss_vocab, t.logging_steps, t.early_stopping_patience = "answers", 1, None
    for key, value in overrides.items():
        setattr(t, key, value)
    project.config.task.schema_in_student_prompt = False
    project.save()


@pytest.fixture(scope="session")
def generated_project(tmp_path_factory: pytest.TempPathFactory):
    """The example project with its teacher validated and 60 pairs generated (scratch:tiny),
    built once per session: tests read it or work on a `clone_project` of it."""
    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.validate_teacher import validate_teacher
    from slm_distill.tools.workspace.project import add_seeds, init_project

    root = tmp_path_factory.mktemp("gen") / "proj"
    project = init_project(root, schema=EXAMPLE / "schema.sql", teacher=EXAMPLE_TEACHER,
                           student="scratch:tiny")
    add_seeds(project, EXAMPLE / "seeds.jsonl")
    tiny_training(project)
    validate_teacher(project)
    generate_pairs(project, n=60)
    return project


def clone_project(project, tmp_path: Path):
    from slm_distill.tools.workspace.project import Project

    target = tmp_path / "clone"
    shutil.copytree(project.root, target, ignore=shutil.ignore_patterns("runs", "jobs", "exports"))
    return Project.load(target)


def cli_through_evaluate(root: str, init: list[str], seeds: Path, settings: dict[str, str],
                         pairs: int, judge: bool = False) -> None:
    """A bundled example through the CLI as a user types it: init (with the task's own options),
    seeds, the settings, the judge's gate (`judge`), the teacher's, generation, training and
    evaluation."""
    from slm_distill.tools.cli import main

    main(["init", root, *init])
    main(["seeds", "add", str(seeds), "--project", root])
    for key, value in settings.items():
        main(["config", "set", key, value, "--project", root])
    gates = [["validate-judge"], ["validate-teacher"]] if judge else [["validate-teacher"]]
    for command in (*gates, ["generate", "--n", str(pairs)], ["train"], ["evaluate"]):
        main([*command, "--project", root])
