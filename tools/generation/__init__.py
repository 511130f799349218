"""Generation helpers: near-duplicate detection and the Hugging Face dataset export."""
