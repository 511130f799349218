"""Reports: saving with provenance, Markdown tables, charts, the model card."""
