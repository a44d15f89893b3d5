"""gqr: guarded query routing for LLM applications."""

__version__ = "0.1.0"
