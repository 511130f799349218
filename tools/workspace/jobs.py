"""Jobs: stages that take minutes to hours run as detached worker processes.

    job = start_job(project, "train", TrainRequest())   # returns within a second
    job_status(project, job.id).status   # queued | running | succeeded | partial | failed | cancelled
    cancel_job(project, job.id)                     # SIGTERM; checkpoints stay, a rerun resumes

State lives in `jobs/<id>/`: `state.json` (JobState), `events.jsonl` (step, loss, tokens/s, ETA,
eval score...), `params.json` (the stage's request as JSON, see tools/requests.py) and `log` (the
worker's stdout and stderr). The worker runs the stage through tools/stages.py, as an inline run
does, and phrases errors for the surface that started the job. Ids are random and
checked, jobs survive a restart of whoever started them, and a worker that died is noticed.
With more than one GPU visible, the worker is launched through `accelerate launch`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from slm_distill.tools.actions import SURFACE, Surface, act, surface
from slm_distill.tools.errors import DistillError, UsageError
from slm_distill.tools.requests import Request
from slm_distill.tools.secrets import Scrubbed, scrub, scrub_tree
from slm_distill.tools.workspace.fileio import append_jsonl, write_atomic
from slm_distill.tools.workspace.lock import (
    FD_VAR,
    WriterLock,
    alive,
    record_inherited,
    release_inherited,
)
from slm_distill.tools.workspace.project import Project

# partial: the job ended without an error but short of what was asked (its message says why)
Status = Literal["queued", "running", "succeeded", "partial", "failed", "cancelled"]
TERMINAL = ("succeeded", "partial", "failed", "cancelled")
_ID = re.compile(r"^[0-9a-f]{16}$")


class JobState(BaseModel):
    id: str
    kind: str
    status: Status = "queued"
    surface: Surface = Field("cli", description="Who started it: errors are phrased for it.")
    pid: int | None = None
    created_at: str
    started_at: str | None = None
    ended_at: str | None = None
    step: int | None = None
    total_steps: int | None = None
    progress: float | None = Field(None, description="0..1 when known.")
    eta_s: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="Latest metrics.")
    message: str = ""
    error: str | None = None
    result: dict[str, Any] | None = None

    def summary(self) -> str:
        at = f" at step {self.step}/{self.total_steps}" if self.step is not None else ""
        lines = [f"Job {self.id} ({self.kind}): {self.status}{at}"]
        if self.status in ("partial", "cancelled") and self.message:
            lines.append(f"  {self.message}")
        if self.metrics:
            lines.append("  latest: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else
                                                  f"{k}={v}" for k, v in self.metrics.items()))
        if self.error:
            lines.append(f"  error: {self.error}")
        result = self.result or {}
        if result.get("best_score") is not None:
            lines.append(f"  best validation score {result['best_score']:.1%} at step "
                         f"{result.get('best_step')}")
        lines += [f"  {name}: {path}" for name, path in (result.get("files") or {}).items()]
        return "\n".join(lines)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def job_dir(project: Project, job_id: str) -> Path:
    if not _ID.match(job_id):
        raise UsageError(f"{job_id!r} is not a job id (16 hex characters). See {{fix}}.",
                         fix=act("list_jobs"))
    path = project.path("jobs", job_id)
    if not (path / "state.json").is_file():
        raise UsageError(f"No job {job_id} in this project. See {{fix}}.", fix=act("list_jobs"))
    return path


def _save(project: Project, state: JobState) -> None:
    write_atomic(project.path("jobs", state.id, "state.json"), state.model_dump_json(indent=2))


def _load(project: Project, job_id: str) -> JobState:
    return JobState.model_validate_json((job_dir(project, job_id) / "state.json").read_text())


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def training_processes(project: Project, gpus: int) -> int:
    """How many processes train: `training.processes`, else one per GPU (at least one)."""
    return project.config.training.processes or max(1, gpus)


def launch_command(project: Project, job_id: str, processes: int) -> list[str]:
    """The worker's command: through `accelerate launch` (DDP, or what `training.accelerate_config`
    sets up: FSDP, DeepSpeed) when more than one process trains; on CPUs the processes meet
    through gloo."""
    worker = ["-m", "slm_distill.tools.workspace.jobs", "run", str(project.root), job_id]
    if processes <= 1:
        return [sys.executable, *worker]
    config = project.config.training.accelerate_config
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    if config:
        launcher += ["--config_file", str(project.path(config))]
    else:  # accelerate's multi-process launcher (torchrun); on CPUs, its CPU backend
        launcher += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no",
                     "--dynamo_backend", "no", "--main_process_port", str(free_port())]
    return [*launcher, "--num_processes", str(processes), *worker]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_job(project: Project, kind: str, request: Request,
              lock: WriterLock | None = None) -> JobState:
    """Start `kind` (a stage in tools/stages.py) on `request` in a worker process, which takes
    over the project's writer lock (`lock`, or one taken here)."""
    from slm_distill.tools.stages import stage

    stage(kind)
    owned = lock is None
    lock = lock or WriterLock(project, kind).acquire()
    try:
        state = JobState(id=secrets.token_hex(8), kind=kind, created_at=_now(),
                         surface=SURFACE.get())
        project.path("jobs", state.id).mkdir(parents=True)
        _save(project, state)  # first: a job folder always has its state
        write_atomic(project.path("jobs", state.id, "params.json"), request.model_dump_json(indent=2))
        lock.record(pid=os.getpid(), job_id=state.id)  # the worker records itself once it runs
        state.pid = _spawn_or_fail(project, state, lock)
        return state  # from here on only the worker writes state.json
    finally:
        if owned:
            lock.release()


def _spawn_or_fail(project: Project, state: JobState, lock: WriterLock) -> int:
    try:
        pid = _spawn(project, state, lock)
    except OSError as exc:
        lock.handed_over = False  # nobody took it over
        state.status, state.ended_at = "failed", _now()
        state.error = scrub(f"the worker process could not start: {exc}")
        _save(project, state)
        raise DistillError(f"Job {state.id} could not start its worker process ({exc}). Check "
                           "the disk and the Python environment, then run this again.") from exc
    write_atomic(project.path("jobs", state.id, "pid"), str(pid))
    return pid


def _spawn(project: Project, state: JobState, lock: WriterLock) -> int:
    """The worker: in its own session, in the project directory (relative paths in the
    configuration mean the same as for the CLI run there), with PYTHONSAFEPATH set so that nothing
    in that directory can shadow a module, holding the writer lock's descriptor."""
    folder = project.path("jobs", state.id)
    gpus = gpu_count() if state.kind == "train" else 0
    processes = training_processes(project, gpus) if state.kind == "train" else 1
    assert lock.fd is not None, "a job starts only under the project's writer lock"
    env = {**os.environ, "PYTHONSAFEPATH": "1", FD_VAR: str(lock.fd)}
    if gpus == 0 and processes > 1:
        env["CUDA_VISIBLE_DEVICES"] = ""  # several CPU processes: accelerate's gloo backend
    with (folder / "log").open("ab") as log:
        process = subprocess.Popen(launch_command(project, state.id, processes), stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=project.root, env=env,
                                   pass_fds=(lock.fd,))
    return process.pid


def _pid(project: Project, state: JobState) -> int | None:
    """The worker's pid: from its state once it runs, from the pid file the starter wrote before."""
    path = project.path("jobs", state.id, "pid")
    if state.pid:
        return state.pid
    text = path.read_text().strip() if path.is_file() else ""
    return int(text) if text.isdigit() else None


def job_status(project: Project, job_id: str) -> JobState:
    state = _load(project, job_id)
    pid = _pid(project, state)
    if state.status in ("queued", "running") and pid and not alive(pid):
        state = _load(project, job_id)  # it may have finished between the two reads
        if state.status in ("queued", "running"):
            state.status, state.ended_at = "failed", _now()
            state.error = "the worker process died; see the job log. Rerun to resume."
            _save(project, state)
    return state


def list_jobs(project: Project) -> list[JobState]:
    folder = project.path("jobs")
    ids = [p.name for p in folder.iterdir()
           if _ID.match(p.name) and (p / "state.json").is_file()] if folder.is_dir() else []
    return sorted((job_status(project, i) for i in ids), key=lambda s: s.created_at)


CANCEL_WAIT_S = 10.0
# A cancelled worker gets this long to stop on its own; then it records its end, lets go of the
# project and exits, whatever it was waiting on (a teacher call in a thread cannot be interrupted,
# and the interpreter would otherwise wait for that thread before it exits).
CANCEL_GRACE_S = 4.0


def cancel_job(project: Project, job_id: str) -> JobState:
    """Stop a job (SIGTERM to its process group) and wait, a bounded time, for it to exit, so
    the project is free for the next command when this returns."""
    state = job_status(project, job_id)
    if state.status in TERMINAL:
        return state
    pid = _pid(project, state)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    state = _load(project, job_id)  # the worker saves its own end when it can
    if state.status not in TERMINAL:
        state.status, state.ended_at, state.message = "cancelled", _now(), "cancelled by the user"
        _save(project, state)
    return state


def log_tail(project: Project, job_id: str, lines: int = 20) -> str:
    path = job_dir(project, job_id) / "log"
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    return "\n".join(text.splitlines()[-lines:])


# -- the worker side -----------------------------------------------------------------------------
def _emitter(project: Project, state: JobState) -> Callable[[dict], None]:
    path = project.path("jobs", state.id, "events.jsonl")

    def emit(event: dict) -> None:
        event = {"time": _now(), **event}
        append_jsonl(path, [event])
        state.step = event.get("step", state.step)
        state.total_steps = event.get("total_steps", state.total_steps)
        if state.step is not None and state.total_steps:
            state.progress = min(1.0, state.step / state.total_steps)
        state.eta_s = event.get("eta_s", state.eta_s)
        state.metrics.update({k: v for k, v in event.items()
                              if k in ("loss", "eval_score", "tokens_per_s", "kd", "learning_rate")})
        state.message = scrub(str(event.get("message", state.message)))
        _save(project, state)
        print(_event_line(event), flush=True)  # the worker's stdout is the job log

    return emit


def _event_line(event: dict) -> str:
    parts = [event["time"]]
    if event.get("step") is not None:
        parts.append(f"step {event['step']}/{event.get('total_steps') or '?'}")
    parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in event.items()
              if k not in ("time", "step", "total_steps", "message") and isinstance(v, int | float)]
    if event.get("message"):
        parts.append(str(event["message"]))
    return "  ".join(parts)


def run_job(root: Path, job_id: str) -> int:
    from slm_distill.tools import stages

    sys.stdout, sys.stderr = Scrubbed(sys.stdout), Scrubbed(sys.stderr)  # the job's log
    try:
        project = Project.load(root)
        state = _load(project, job_id)
    except Exception as exc:  # noqa: BLE001 - said in the state, where the starter looks
        return _failed_early(root, job_id, exc)
    with surface(state.surface):
        try:
            request = stages.stage(state.kind).request.model_validate_json(
                (job_dir(project, job_id) / "params.json").read_text())
        except Exception as exc:  # noqa: BLE001
            return _failed_early(root, job_id, exc)
        if os.environ.get("RANK", "0") != "0":  # other accelerate ranks only train
            stages.run(project, state.kind, request)
            return 0
        return _run(project, state, request)


def _failed_early(root: Path, job_id: str, exc: Exception) -> int:
    """Record a worker that could not even begin (its project or request unreadable)."""
    path = root / "jobs" / job_id / "state.json"
    with contextlib.suppress(OSError, ValueError):
        state = json.loads(path.read_text())
        error = exc.render() if isinstance(exc, DistillError) else f"{type(exc).__name__}: {exc}"
        state.update(status="failed", ended_at=_now(), error=scrub(f"the job could not begin: {error}"))
        write_atomic(path, json.dumps(state, indent=2))
    return 1


def _run(project: Project, state: JobState, request: Request) -> int:
    from slm_distill.tools import stages

    state.status, state.started_at = "running", _now()
    if "RANK" not in os.environ:  # under accelerate the launcher stays the job's process
        state.pid = os.getpid()
    record_inherited(project, state.kind, os.getpid(), state.id)
    _save(project, state)
    ending = threading.Lock()  # the stage's own end and a forced one: one of them records it
    signal.signal(signal.SIGTERM, _interrupt_handler(project, state, ending))
    try:
        report = stages.run(project, state.kind, request, _emitter(project, state))
        result = stages.job_result(state.kind, report)
    except KeyboardInterrupt:
        state.status, state.message = "cancelled", "cancelled; checkpoints kept, a rerun resumes"
    except DistillError as exc:
        state.status, state.error = "failed", exc.render()
    except (Exception, SystemExit) as exc:  # a worker reports every failure in its state
        state.status, state.error = "failed", scrub(f"{type(exc).__name__}: {exc}")
        raise
    else:
        short = stages.shortfall(state.kind, report)
        state.status, state.result = ("partial" if short else "succeeded"), scrub_tree(result)
        state.message = scrub(f"fell short: {short}") if short else state.message
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a cancel now would cut the record short
        with ending:
            state.ended_at = _now()
            release_inherited(project)
            _save(project, state)
    return 0 if state.status == "succeeded" else 1


def _interrupt_handler(project: Project, state: JobState,
                       ending: threading.Lock) -> Callable[[int, Any], None]:
    """SIGTERM: interrupt the stage, and end the process after CANCEL_GRACE_S if it has not."""

    def force_exit() -> None:
        # waits (a while) for the stage recording its own end; then it exits either way
        if ending.acquire(timeout=CANCEL_GRACE_S) and state.ended_at is None:
            state.status, state.ended_at = "cancelled", _now()
            state.message = (f"cancelled; the stage did not stop within {CANCEL_GRACE_S:g} s, "
                             "so its process was ended (checkpoints kept, a rerun resumes)")
            release_inherited(project)
            with contextlib.suppress(OSError):
                _save(project, state)
        for stream in (sys.stdout, sys.stderr):  # the job's log
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(1)

    def handler(signum: int, frame: Any) -> None:
        timer = threading.Timer(CANCEL_GRACE_S, force_exit)
        timer.daemon = True
        timer.start()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one interrupt; the timer does the rest
        raise KeyboardInterrupt

    return handler


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "run":
        sys.exit("usage: python -m slm_distill.tools.workspace.jobs run PROJECT_DIR JOB_ID")
    sys.exit(run_job(Path(sys.argv[2]), sys.argv[3]))
