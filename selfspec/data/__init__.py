"""Data: tokenisation with response-only labels and the LightningDataModule that serves it."""
