"""gqr: guarded query routing for LLM applications.

>>> from gqr import Router
>>> router = Router.load()  # doctest: +SKIP
>>> router.route("Can my landlord keep my deposit?").route  # doctest: +SKIP
'law'
"""

from gqr.decision import Decision, Reason, Source
from gqr.errors import GQRError
from gqr.router import Router

__version__ = "0.1.0"

__all__ = ["Decision", "GQRError", "Reason", "Router", "Source", "__version__"]
