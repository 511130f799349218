"""Training machinery: students, rendering, the trainer, generation with transformers."""
