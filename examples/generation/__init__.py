"""The generation example: one-sentence summaries of customer-support tickets."""
