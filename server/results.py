"""What the MCP tools return beyond the stages' own reports: jobs and their views, each with the
`summary()` that opens the tool result's text."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from slm_distill.server.quoting import NOTE
from slm_distill.tools.generation.estimate import GenerationEstimate
from slm_distill.tools.improve import ImprovePlan
from slm_distill.tools.judge import JudgeValidationReport
from slm_distill.tools.training.timing import TrainEstimate
from slm_distill.tools.validate_teacher import TeacherValidationReport


class JobStarted(BaseModel):
    job_id: str = Field(description="Poll it with job_status.")
    kind: str
    status: str = Field(description="queued | running | succeeded | partial (ended short of what "
                        "was asked; message says why) | failed | cancelled")
    progress: float | None = Field(None, description="0..1 when known.")
    message: str = ""
    result: dict[str, Any] | None = Field(None, description="Set when the job ended within the wait "
                                          "(quoted data).")
    error: str | None = None
    next_step: str

    def summary(self) -> str:
        done = f" ({self.progress:.0%})" if self.progress is not None else ""
        lines = [f"Job {self.job_id} ({self.kind}): {self.status}{done}"
                 + (f": {self.message}" if self.message else "")]
        if self.error:
            lines.append(f"Error: {self.error}")
        lines.append(f"Next: {self.next_step}")
        return "\n".join(lines)


class JobView(BaseModel):
    state: dict[str, Any] = Field(description="Status, progress, ETA, latest metrics, result "
                                  "(texts quoted and truncated).")
    log_tail: str = Field(description="The last lines of the job's log (quoted data).")
    note: str = NOTE

    def summary(self) -> str:
        s = self.state
        step = f" at step {s['step']}/{s.get('total_steps')}" if s.get("step") is not None else ""
        eta = f", about {s['eta_s']:.0f}s left" if s.get("eta_s") else ""
        lines = [f"Job {s['id']} ({s['kind']}): {s['status']}{step}{eta}"]
        if s.get("error"):
            lines.append(f"Error: {s['error']}")
        return "\n".join(lines)


class JobList(BaseModel):
    jobs: list[dict[str, Any]]

    def summary(self) -> str:
        if not self.jobs:
            return "No jobs yet."
        return "\n".join(f"{j['id']}  {j['kind']:<8} {j['status']:<10} {j['created_at']}"
                         for j in self.jobs)


class GenerateResult(BaseModel):
    estimate: GenerationEstimate | None = Field(None, description="Set for dry_run=true.")
    job: JobStarted | None = Field(None, description="Set when generation was started.")

    def summary(self) -> str:
        return "\n".join(part.summary() for part in (self.estimate, self.job) if part)


class TrainResult(BaseModel):
    estimate: TrainEstimate | None = Field(None, description="Set for dry_run=true: the time "
                                           "training would take, measured on a few batches.")
    job: JobStarted | None = Field(None, description="Set when training was started.")

    def summary(self) -> str:
        return "\n".join(part.summary() for part in (self.estimate, self.job) if part)


class ImproveResult(BaseModel):
    plan: ImprovePlan = Field(description="The failure groups and the new pairs each gets.")
    estimate: GenerationEstimate | None = Field(None, description="Teacher cost of one round's "
                                                "pairs.")
    job: JobStarted | None = Field(None, description="Set when the round was started (dry_run=false).")

    def summary(self) -> str:
        return "\n".join(part.summary() for part in (self.plan, self.estimate, self.job) if part)


class QuotedTeacherReport(TeacherValidationReport):
    note: str = NOTE


class QuotedJudgeReport(JudgeValidationReport):
    note: str = NOTE
