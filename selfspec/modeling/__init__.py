"""Loading base models and tokenizers from a Hub id, a local directory or a built-in name."""
