"""Export pairs as a Hugging Face dataset (parquet) in the chat `messages` format TRL reads.

Each row: `messages` (the task's student prompt + the answer as the assistant turn), plus `id`,
`input` and `output`. Files: data/hf/train.parquet and data/hf/validation.parquet.

The parquet files are a convenience for other tools: training reads data/train.jsonl and
data/val.jsonl. Without the `data` extra (datasets, pyarrow) the export is skipped with a warning
that says how to install it, and generation keeps its pairs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slm_distill.tools.errors import MissingDependency, require

if TYPE_CHECKING:
    from slm_distill.tools.generate_pairs import Pair
    from slm_distill.tools.tasks.base import Task
    from slm_distill.tools.workspace.project import Project

log = logging.getLogger(__name__)


def to_messages(task: Task, pair: Pair) -> list[dict[str, str]]:
    return [*task.student_messages(pair.input), {"role": "assistant", "content": pair.output}]


def export_messages(project: Project, task: Task, splits: dict[str, list[Pair]]) -> dict[str, str]:
    """Write data/hf/<split>.parquet; returns {"hf_<split>": path}, empty when `datasets` is missing."""
    try:
        datasets = require("datasets", "datasets", "data")
    except MissingDependency as exc:
        log.warning("Skipped the Hugging Face parquet copy of the pairs (data/hf/); training reads "
                    "data/train.jsonl and data/val.jsonl, which are written. %s", exc)
        return {}
    datasets.disable_progress_bars()
    folder = project.path("data", "hf")
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, pairs in splits.items():
        rows = [{"id": p.id, "input": p.input, "output": p.output,
                 "messages": to_messages(task, p)} for p in pairs]
        if not rows:
            continue
        target = folder / f"{name}.parquet"
        tmp = folder / f".{name}.parquet.tmp"
        datasets.Dataset.from_list(rows).to_parquet(str(tmp))
        tmp.replace(target)
        files[f"hf_{name}"] = str(target.relative_to(project.root))
    return files
