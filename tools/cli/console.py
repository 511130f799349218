"""What the CLI shows while work runs: a rich progress bar on stderr, fed by progress calls or by
a stage's events (the same events a job writes to its log).

    with progress_bar("generating pairs") as update:
        stages.run(project, "generate", request, bar_events(update))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Update = Callable[[int, int, str], None]


@contextmanager
def progress_bar(label: str) -> Iterator[Update]:
    """A progress bar on stderr, fed by update(done, total, message) calls."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=console, transient=not console.is_terminal) as bar:
        task_id = bar.add_task(label, total=None, note="")

        def update(done: int, total: int, message: str) -> None:
            bar.update(task_id, completed=done, total=total or None, note=message[:60])

        yield update


def run_gate(label: str, stage: Callable[..., Any], project: Any, request: Any) -> None:
    """A gate stage (the teacher's, the judge's) with a progress bar: its summary, and exit
    code 1 when it failed."""
    import click

    with progress_bar(label) as update:
        report = stage(project, request, progress=update)
    click.echo(report.summary())
    if not report.passed:
        raise SystemExit(1)


def bar_events(update: Update) -> Callable[[dict], None]:
    """Stage events (step, total_steps, message, loss, eval_score) as progress bar updates."""
    total = 0

    def emit(event: dict) -> None:
        nonlocal total
        total = event.get("total_steps") or total
        if "loss" in event:
            note = f"loss {event['loss']:.3f}"
        elif "eval_score" in event:
            note = f"val score {event['eval_score']:.0%}"
        else:
            note = str(event.get("message", ""))
        update(event.get("step") or 0, total, note)

    return emit
