"""The generation report as Markdown, saved beside its JSON under reports/generation.*."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slm_distill.tools.reports import md_table, save_report

if TYPE_CHECKING:
    from slm_distill.tools.generate_pairs import GenerationReport
    from slm_distill.tools.project import Project

REPORT = "generation"


def render_generation(r: GenerationReport) -> str:
    lines = [
        "# Synthetic data generation", "",
        f"Teacher: `{r.teacher}` ({r.teacher_description})", f"Gate: {r.gate}", "",
        f"Kept **{r.kept}** of {r.target} wanted ({r.train} train / {r.validation} validation), "
        f"from {r.proposed} proposals in {r.calls} teacher calls.",
    ]
    if r.stopped:
        lines += ["", f"**Stopped early:** {r.stopped}"]
    lines += ["", "## Rejected", "",
              md_table(["reason", "pairs"], [[k, v] for k, v in r.rejected.items()]) if r.rejected
              else "Nothing was rejected.",
              "", f"Duplicates dropped: {r.duplicates}. Leakage drops (near a test seed): "
              f"{r.leakage_drops}.", "", "## Coverage", ""]
    for title, counts in (("difficulty", r.coverage.difficulty), ("source", r.coverage.sources),
                          ("table", r.coverage.tables), ("SQL feature", r.coverage.features)):
        lines += [md_table([title, "pairs"], [[k, v] for k, v in counts.items()]), ""]
    lines += [f"This run: {r.cost.calls} new calls, {r.cost.cached_calls} from cache, "
              f"{r.cost.input_tokens} input / {r.cost.output_tokens} output tokens, "
              f"${r.cost.cost_usd:.4f}.", "", "Files: " +
              ", ".join(f"`{v}`" for v in r.files.values()), "", r.next_step, ""]
    return "\n".join(lines)


def save_generation_report(project: Project, report: GenerationReport) -> None:
    save_report(project, REPORT, report, render_generation(report))
