"""Real models on real data: builds, checkpoints, single training, validation and latency steps, the CLI per command."""
