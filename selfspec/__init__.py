"""selfspec: self-specialisation of LLMs into domain experts (Kang et al., 2023).

Import submodules directly (``selfspec.seeds``, ``selfspec.cli``...); this module stays light so
``selfspec --help`` starts quickly.
"""

__version__ = "0.1.0"
