"""The optional compiled n-gram kernel; everything else is in pyproject.toml.

``optional=True``: with no C compiler the install still succeeds, and gqr hashes with numpy
(the same features, slower; ``gqr.features.hashing_fast`` says so once in its log).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gqr.features._ngrams", ["gqr/features/_ngrams.c"], optional=True)])
