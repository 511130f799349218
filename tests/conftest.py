"""Shared fixtures. No test reaches the network: provider SDKs talk to tests/fakeprovider.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "text2sql"
SHARED_DATA = REPO.parent / "shared" / "data"
EXAMPLE_TEACHER = "python:slm_distill.examples.text2sql.teacher:TEACHER"


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real keys never reach a test; tests set fake ones where they need them."""
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
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


@pytest.fixture
def example_project(tmp_path: Path):
    """A fresh project built from the bundled example, with its seeds added."""
    from slm_distill.tools.project import add_seeds, init_project

    project = init_project(tmp_path / "proj", schema=EXAMPLE / "schema.sql",
                           teacher=EXAMPLE_TEACHER, student="scratch:tiny")
    add_seeds(project, EXAMPLE / "seeds.jsonl")
    return project


@pytest.fixture
def music_db(tmp_path: Path) -> Path:
    from slm_distill.tools.tasks.sqlload import load_sql_file

    target = tmp_path / "music.duckdb"
    load_sql_file(EXAMPLE / "schema.sql", target)
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


@pytest.fixture(scope="module")
def generated_project(tmp_path_factory: pytest.TempPathFactory):
    """The example project with its teacher validated and 60 pairs generated (scratch:tiny)."""
    from slm_distill.tools.generate_pairs import generate_pairs
    from slm_distill.tools.project import add_seeds, init_project
    from slm_distill.tools.validate_teacher import validate_teacher

    root = tmp_path_factory.mktemp("gen") / "proj"
    project = init_project(root, schema=EXAMPLE / "schema.sql", teacher=EXAMPLE_TEACHER,
                           student="scratch:tiny")
    add_seeds(project, EXAMPLE / "seeds.jsonl")
    tiny_training(project)
    validate_teacher(project)
    generate_pairs(project, n=60)
    return project


def clone_project(project, tmp_path: Path):
    from slm_distill.tools.project import Project

    target = tmp_path / "clone"
    shutil.copytree(project.root, target, ignore=shutil.ignore_patterns("runs", "jobs", "exports"))
    return Project.load(target)
