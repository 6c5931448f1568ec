"""Iterative self-specialisation (METHOD step 7): ``selfspec-rounds`` and its parts."""
