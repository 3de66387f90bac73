"""analysis_lib: the reusable library behind the calorimeter deep-learning analysis book."""

__version__ = "0.1.0"
