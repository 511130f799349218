"""Pictures next to the reports: training curves and accuracy bars (PNG, matplotlib Agg).

matplotlib comes with the `train` extra, which every stage that draws (train, evaluate, improve)
needs anyway; without it the user is told how to install it.

    plot_bars({"student": {"overall": 0.8}}, Path("reports/eval.png"), "Accuracy")
"""

from __future__ import annotations

from pathlib import Path

from slm_distill.tools.errors import require


def _pyplot():  # noqa: ANN202 - the pyplot module
    matplotlib = require("matplotlib", "matplotlib", "train")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", "matplotlib", "train")


def plot_training(history: list[dict], path: Path) -> Path:
    plt = _pyplot()
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    scores = [(h["step"], h["eval_score"]) for h in history if "eval_score" in h]
    fig, ax = plt.subplots(figsize=(7, 4))
    if losses:
        ax.plot(*zip(*losses, strict=True), color="tab:blue", label="training loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss", color="tab:blue")
    if scores:
        ax2 = ax.twinx()
        ax2.plot(*zip(*scores, strict=True), "o-", color="tab:green", label="validation score")
        ax2.set_ylabel("validation score (generated answers)", color="tab:green")
        ax2.set_ylim(0, 1)
    ax.set_title("Student training")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_bars(groups: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    """Grouped bars: groups = {model: {metric_or_bucket: value}}."""
    plt = _pyplot()
    models = list(groups)
    keys = sorted({k for v in groups.values() for k in v})
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, len(keys) * 1.5), 4))
    for i, model in enumerate(models):
        xs = [j + i * width for j in range(len(keys))]
        values = [groups[model].get(k, 0.0) for k in keys]
        bars = ax.bar(xs, values, width, label=model)
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=8)
    ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(keys))], keys)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=len(models), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_before_after(rows: list[tuple[str, int, int, int]], path: Path, title: str) -> Path:
    """Horizontal before/after bars, one pair per (label, n, correct_before, correct_after) row,
    in the order given (top to bottom)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.42 * len(rows)))
    ys = list(range(len(rows)))[::-1]
    for offset, index, name, color in ((0.2, 2, "before", "tab:gray"), (-0.2, 3, "after", "tab:green")):
        values = [row[index] / row[1] for row in rows]
        bars = ax.barh([y + offset for y in ys], values, 0.4, label=name, color=color)
        ax.bar_label(bars, labels=[f"{row[index]}/{row[1]}" for row in rows], fontsize=7, padding=2)
    ax.set_yticks(ys, [row[0] for row in rows], fontsize=8)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("student accuracy on the test inputs of the group")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(labels: list[str], matrix: list[list[int]], path: Path, title: str) -> Path:
    """Rows: the expected label; columns: the answer (the last may be "(no label)")."""
    plt = _pyplot()
    rows = len(matrix)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, max(3.5, 0.6 * rows + 1.5)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(rows), labels[:rows])
    peak = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center",
                    color="white" if peak and value > peak / 2 else "black")
    ax.set_xlabel("answered")
    ax.set_ylabel("expected")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
