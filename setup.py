"""The optional compiled kernel (``gqr/_kernel.c``); everything else is in pyproject.toml.

``optional=True``: with no C compiler the install still succeeds, and gqr computes the same
results in Python and numpy, slower (``gqr.kernel`` says so once in its log).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gqr._kernel", ["gqr/_kernel.c"], optional=True)])
