"""Iterative self-specialisation (docs/method.md step 7): ``selfspec-rounds`` and its parts."""
