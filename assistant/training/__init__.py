"""Learning from logs: examples from the splits, trainers, artifacts and the active-run pointer."""
