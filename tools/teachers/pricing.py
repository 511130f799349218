"""A small price table (US dollars per million tokens) for cost estimates and budgets.

Prices are list prices noted in 2026; batch APIs cost half. A model not listed counts 0 here:
reports say its cost is unknown, and a dollar budget refuses to run it (nothing could be counted
against the budget). Local backends (llama-cpp, python) are free.
"""

from __future__ import annotations

# model prefix -> (input $/Mtok, output $/Mtok); the longest matching prefix wins.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4": (15.0, 75.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.0, 8.0),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
}
BATCH_DISCOUNT = 0.5


def price_of(model: str) -> tuple[float, float] | None:
    matches = [p for p in PRICES if model.startswith(p)]
    return PRICES[max(matches, key=len)] if matches else None


def cost_usd(model: str, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
    price = price_of(model)
    if price is None:
        return 0.0
    cost = (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
    return cost * (BATCH_DISCOUNT if batch else 1.0)
