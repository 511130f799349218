"""What can help when generation falls short of its target, from why its proposals were rejected.

    advice("gave up after 398 calls: ...", {"duplicate": 700, "leakage": 40}, project)
    # ['The teacher repeats itself (700 duplicates): add more, and more varied, seeds; ...']
"""

from __future__ import annotations

from slm_distill.tools.actions import Blank, say
from slm_distill.tools.workspace.project import Project

SHARE = 0.25  # a reason behind at least this share of rejects gets its advice


def advice(stopped: str, rejected: dict[str, int], project: Project) -> list[str]:
    if stopped.startswith("budget"):
        return [f"Raise the budget and run {say('generate', budget_usd=Blank('usd'))} again: "
                "cached calls are free and the pairs so far are kept."]
    gen = project.config.generation
    total = sum(rejected.values()) or 1
    share = {reason: count / total for reason, count in rejected.items()}
    invalid = sum(v for k, v in share.items() if k.startswith("invalid:"))
    tips = []
    if share.get("duplicate", 0) >= SHARE:
        hotter = say("set_config", key="generation.temperature", value=1.0)
        tips.append(f"The teacher repeats itself ({rejected['duplicate']} duplicates): add more, and "
                    "more varied, seeds; raise generation.temperature (now "
                    f"{gen.temperature}) or generation.augment_fraction (now {gen.augment_fraction}) "
                    f"for more rewritten seeds, e.g. {hotter}.")
    if share.get("leakage", 0) >= SHARE:
        tips.append(f"Many proposals are near a test seed ({rejected['leakage']} dropped): add seeds "
                    "on other topics. generation.leakage_threshold (now "
                    f"{gen.leakage_threshold}) can be raised, but pairs closer to test seeds make "
                    "the test score less trustworthy.")
    if invalid >= SHARE:
        tips.append("Many proposals fail validation (see data/rejected.jsonl): a stronger teacher, "
                    "or seeds that show the schema's conventions.")
    if share.get("no_majority", 0) >= SHARE:
        tips.append("Self-consistency answers disagree: fewer generation.samples, or a stronger "
                    "teacher.")
    tips.append("A rerun with the same settings would make no new calls: change one of them, or "
                "train on the pairs kept so far.")
    return tips
