"""One writer at a time per project: every command or job that writes the project holds `.lock`.

    with WriterLock(project, "generate"):       # an inline command (CLI, MCP tool)
        ...
    lock = WriterLock(project, "train").acquire()
    start the worker with pass_fds=(lock.fd,); lock.release()   # the worker holds it now

The lock is `fcntl.flock` on `.lock` in the project, so the kernel drops it when its holder exits,
however it exits: a lock can never outlive its process, and there is nothing stale to break. The
file's content names the holder (kind, pid, job id, start time) for the refusal message and for
`status`; a job's worker writes its own pid there when it starts and clears it when it ends.
(With several GPUs the accelerate launcher holds the descriptor until it exits, moments after
the job reports its end; a command refused meanwhile is told to try again in a few seconds.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from slm_distill.tools.actions import act
from slm_distill.tools.errors import UsageError

LOCK_FILE = ".lock"
FD_VAR = "SLM_DISTILL_LOCK_FD"  # tells a job's worker which inherited descriptor holds the lock


class ProjectBusy(UsageError):
    """Another command or job is writing the project."""

    def __init__(self, holder: dict[str, Any], ended: bool = False) -> None:
        what = holder.get("kind") or "another command"
        since = f" since {holder['since']}" if holder.get("since") else ""
        if ended:
            super().__init__(f"Job {holder.get('job_id')} ({what}) has ended and is releasing the "
                             "project. Try again in a few seconds.")
        elif job := holder.get("job_id"):
            super().__init__(
                f"The project is busy: job {job} ({what}, pid {holder.get('pid')}) is writing it"
                f"{since}. Wait for it ({{follow}}) or cancel it ({{cancel}}), then run this again.",
                follow=act("follow_job", job_id=job), cancel=act("cancel_job", job_id=job))
        else:
            super().__init__(f"The project is busy: {what} (pid {holder.get('pid', '?')}) is "
                             f"writing it{since}. Wait for it to finish, then run this again.")
        self.holder = holder


class WriterLock:
    def __init__(self, project: Any, kind: str) -> None:
        self.path = project.path(LOCK_FILE)
        self.kind = kind
        self.fd: int | None = None
        self.handed_over = False  # a job's worker shares the lock's descriptor

    def acquire(self) -> WriterLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            named = _named_holder(self.path)
            raise ProjectBusy(named, ended=_job_ended(self.path.parent, named)) from None
        self.fd = fd
        self.record(pid=os.getpid())
        return self

    def record(self, *, pid: int, job_id: str | None = None) -> None:
        """Say who holds the lock: this process, or a job's worker once it has started (which
        shares the descriptor from then on)."""
        assert self.fd is not None
        self.handed_over = job_id is not None
        text = json.dumps({"kind": self.kind, "pid": pid, "job_id": job_id,
                           "since": datetime.now(UTC).isoformat(timespec="seconds")})
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text.encode(), 0)

    def release(self) -> None:
        """Close this process's handle: the lock ends, and the holder's name is cleared, unless
        a job's worker shares it."""
        if self.fd is not None:
            if not self.handed_over:
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _named_holder(path: Any, wait_s: float = 1.0) -> dict[str, Any]:
    """The holder's record; one that took the lock an instant ago may not have written it yet."""
    deadline = time.monotonic() + wait_s
    while not (named := holder(path)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return named


def holder(path: Any) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _job_ended(root: Any, named: dict[str, Any]) -> bool:
    """Has the job named as the holder already reported its end?"""
    job = named.get("job_id")
    if not isinstance(job, str) or not job.isalnum():
        return False
    try:
        state = json.loads((root / "jobs" / job / "state.json").read_text())
    except (OSError, ValueError):
        return False
    return state.get("status") in ("succeeded", "partial", "failed", "cancelled")


def current_writer(project: Any) -> dict[str, Any] | None:
    """Who writes the project now, as far as the lock file tells: its holder's process alive and,
    for a job, the job not yet ended."""
    named = holder(project.path(LOCK_FILE))
    pid = named.get("pid")
    if not isinstance(pid, int) or not alive(pid) or _job_ended(project.root, named):
        return None
    return named


def alive(pid: int) -> bool:
    """Is process `pid` running (a zombie, exited but not yet reaped, is not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _inherited(project: Any) -> int | None:
    """The descriptor of the project's lock this process inherited from its starter, if any."""
    fd = os.environ.get(FD_VAR, "")
    if not fd.isdigit():
        return None
    try:
        if os.fstat(int(fd)).st_ino == os.stat(project.path(LOCK_FILE)).st_ino:
            return int(fd)
    except OSError:
        pass
    return None  # not our lock file (e.g. in a process accelerate started)


def record_inherited(project: Any, kind: str, pid: int, job_id: str) -> None:
    """In a job's worker: name itself as the holder of the lock it inherited."""
    fd = _inherited(project)
    if fd is not None:
        text = json.dumps({"kind": kind, "pid": pid, "job_id": job_id,
                           "since": datetime.now(UTC).isoformat(timespec="seconds")})
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)


def release_inherited(project: Any) -> None:
    """In a job's worker: end the lock it inherited (before it reports its end, so a client that
    sees the job finished can start the next writer at once)."""
    fd = _inherited(project)
    os.environ.pop(FD_VAR, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.close(fd)
