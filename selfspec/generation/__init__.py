"""Batched text generation shared by brainstorming, response writing and evaluation."""
