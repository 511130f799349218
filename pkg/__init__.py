"""slm-distill: distil a large teacher LLM into a small local student for one task."""

__version__ = "0.1.0"
