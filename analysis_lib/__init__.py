"""analysis_lib: the reusable library behind the calorimeter deep-learning analysis book."""

from . import tensorflow_startup

__version__ = "0.1.0"

tensorflow_startup.install()  # TensorFlow's C++ start-up lines are not for the user (see the module)
