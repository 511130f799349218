"""The configuration, field by field: `distill config get|set` and the get_config/set_config tools
read and change distill.yaml through ProjectConfig, refuse changes that would leave artefacts
inconsistent unless forced, and write nothing on bad input."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from mcp import Client

from slm_distill.server.app import build_server
from slm_distill.tools.cli import main
from slm_distill.tools.errors import UsageError
from slm_distill.tools.workspace.project import Project
from slm_distill.tools.workspace.settings import config_view, set_config
from slm_distill.tools.workspace.status import project_status
from tests.conftest import EXAMPLE


def test_every_field_has_its_value_default_and_description(example_project):
    view = config_view(example_project)
    keys = {f.key: f for f in view.fields}
    assert keys["training.learning_rate"].default == "auto"
    assert keys["training.learning_rate"].resolved == 2e-3  # the example's scratch:tiny student
    assert keys["training.loss_vocab"].resolved == "answers"
    assert keys["training.max_steps"].value is None and keys["training.max_steps"].description
    assert keys["teacher"].value == example_project.config.teacher
    assert all(f.description for f in view.fields), [f.key for f in view.fields if not f.description]
    section = config_view(example_project, "generation")
    assert section.fields and all(f.key.startswith("generation.") for f in section.fields)


def test_steps_and_evaluation_cadence_default_to_auto_per_kind_of_student(example_project):
    from slm_distill.tools.workspace.config import TrainingConfig

    keys = {f.key: f for f in config_view(example_project).fields}
    assert keys["training.epochs"].resolved == 10 and keys["training.epochs"].default == "auto"
    assert keys["training.gradient_accumulation_steps"].resolved == 1  # scratch:tiny
    pretrained = TrainingConfig().resolved("Qwen/Qwen2.5-0.5B-Instruct")
    scratch = TrainingConfig().resolved("scratch:small")
    assert (pretrained.epochs, pretrained.gradient_accumulation_steps) == (3, 4)
    assert (scratch.epochs, scratch.gradient_accumulation_steps) == (10, 1)
    # 1,000 pairs: batches of 8 x 4 for 3 epochs, or of 8 x 1 for 10 epochs
    assert pretrained.total_steps(1000) == 32 * 3 and scratch.total_steps(1000) == 125 * 10
    assert pretrained.total_steps(1000, processes=2) == 16 * 3
    assert scratch.evaluation_steps(1250, gpu=False) == 313  # 4 evaluations on a CPU
    assert pretrained.evaluation_steps(96, gpu=True) == 10  # 10 on a GPU
    chosen = TrainingConfig(eval_steps=7, epochs=2, gradient_accumulation_steps=2,
                            max_steps=40).resolved("scratch:tiny")
    assert chosen.evaluation_steps(40, gpu=False) == 7 and chosen.total_steps(1000) == 40
    assert chosen.epochs == 2 and chosen.gradient_accumulation_steps == 2
    assert "10 epochs of batches of 8 x 1" in project_status(example_project).training


def test_set_validates_returns_the_change_and_saves(example_project):
    change = set_config(example_project, "training.max_steps", 20)
    assert (change.old, change.new, change.changed) == (None, 20, True)
    assert "train" in change.notes[0]
    assert Project.load(example_project.root).config.training.max_steps == 20
    again = set_config(example_project, "training.max_steps", 20)
    assert not again.changed


@pytest.mark.parametrize("key,value,error", [
    ("training.max_steps", 0, "greater than or equal to 1"),
    ("generation.concurrency", 0, "greater than or equal to 1"),  # auto or a bounded number
    ("generation.concurrency", 1000, "less than or equal to 256"),
    ("training.epochs", 0, "greater than 0"),
    ("training.epochs", float("inf"), "finite number"),
    ("training.gradient_accumulation_steps", 0, "greater than or equal to 1"),
    ("training.eval_steps", 0, "greater than or equal to 1"),
    ("training.method", "magic", "'auto', 'lora' or 'full'"),
    ("training.max_stepz", 5, "Did you mean training.max_steps"),
    ("training", 5, "No configuration key 'training'"),
    ("gate.override", None, "recorded only with the user's reason"),
])
def test_bad_changes_write_nothing(example_project, key, value, error):
    before = example_project.path("distill.yaml").read_text()
    with pytest.raises(UsageError, match=error):
        set_config(example_project, key, value)
    assert example_project.path("distill.yaml").read_text() == before


def test_changes_that_would_invalidate_artefacts_need_force(example_project):
    from slm_distill.tools.validate_teacher import validate_teacher

    validate_teacher(example_project)
    before = example_project.path("distill.yaml").read_text()
    with pytest.raises(UsageError, match="move seeds between") as refused:
        set_config(example_project, "split.seed", 3)
    assert "--force" in str(refused.value)
    assert example_project.path("distill.yaml").read_text() == before
    forced = set_config(example_project, "split.seed", 3, force=True)
    assert forced.changed and "forced" in forced.notes[0]
    teacher = set_config(example_project, "teacher", "anthropic:claude-haiku-4-5")
    assert "validate" in teacher.notes[0]


def test_cli_reads_values_as_yaml(example_project, capsys):
    root = str(example_project.root)
    main(["config", "set", "training.learning_rate", "2e-4", "--project", root])
    main(["config", "set", "training.lora_target_modules", "[q_proj, v_proj]", "--project", root])
    main(["config", "set", "training.early_stopping_patience", "null", "--project", root])
    config = Project.load(example_project.root).config.training
    assert config.learning_rate == 2e-4 and config.lora_target_modules == ["q_proj", "v_proj"]
    assert config.early_stopping_patience is None
    capsys.readouterr()
    main(["config", "get", "training.learning_rate", "--project", root])
    out = capsys.readouterr().out
    assert 'training.learning_rate = 0.0002  (default "auto")' in out and "Peak learning rate" in out
    with pytest.raises(SystemExit) as bad:
        main(["config", "set", "training.batch_size", "many", "--project", root])
    assert bad.value.code == 2 and "training.batch_size" in capsys.readouterr().err


def test_config_over_mcp(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "example")
    main(["init", str(tmp_path / "proj"), "--schema", str(tmp_path / "example" / "schema.sql")])

    async def run():
        async with Client(build_server(tmp_path)) as client:
            got = await client.call_tool("get_config", {"project_dir": "proj", "key": "training"})
            put = await client.call_tool("set_config", {"project_dir": "proj",
                                                        "key": "training.max_steps", "value": 20})
            bad = await client.call_tool("set_config", {"project_dir": "proj",
                                                        "key": "training.max_steps", "value": -1})
            return got, put, bad

    got, put, bad = asyncio.run(run())
    fields = {f["key"]: f for f in got.structured_content["fields"]}
    assert fields["training.max_steps"]["description"] and "training.learning_rate" in fields
    assert put.structured_content == {"key": "training.max_steps", "old": None, "new": 20,
                                      "changed": True, "notes": put.structured_content["notes"]}
    assert put.structured_content["notes"] == ["takes effect at the next `train_student()`"]
    assert bad.is_error and "greater than or equal to 1" in bad.content[0].text
    assert Project.load(tmp_path / "proj").config.training.max_steps == 20
    assert json.loads(put.content[0].text.split("\n\n", 1)[1])["new"] == 20
