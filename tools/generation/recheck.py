"""When the seeds or their split change after generation, every kept pair is checked again
against the new test split: a pair near a test seed now is dropped (as `leakage`), and the
train/validation files are written anew.

    dropped = recheck_leakage(project)
"""

from __future__ import annotations

from slm_distill.tools.generate_pairs import Ledger, Pair, _finalise, _paths
from slm_distill.tools.workspace.fileio import append_jsonl, dumps_jsonl, read_jsonl_dicts, write_atomic
from slm_distill.tools.workspace.project import Project


def pairs_exist(project: Project) -> bool:
    path = _paths(project)["pairs"]
    return path.is_file() and path.stat().st_size > 0


def recheck_leakage(project: Project) -> int:
    """Drop the kept pairs that leak into the current test split; how many were dropped."""
    paths = _paths(project)
    pairs = [Pair.model_validate(r) for r in read_jsonl_dicts(paths["pairs"])]
    _, test = project.split()
    task = project.task()
    try:
        ledger, dropped = Ledger(project, task, test), []
        for pair in pairs:
            reject = ledger.judge(pair, pair.metadata.get("call", -1))
            if reject is not None and reject.category == "leakage":
                reject.reason = f"after the seeds or their split changed: {reject.reason}"
                dropped.append(reject)
            else:
                ledger.keep(pair)
        if dropped:
            write_atomic(paths["pairs"], dumps_jsonl(ledger.pairs))
            append_jsonl(paths["rejected"], dropped)
        _finalise(project, task, ledger.pairs)
    finally:
        task.close()
    return len(dropped)
