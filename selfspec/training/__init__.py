"""Training helpers: schedules, gradient accumulation, RNG state for exact resume."""
