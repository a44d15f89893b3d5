"""The LLM judge: an OpenAI-compatible chat-completions client that the router asks about
the queries it is unsure of (Ollama, vLLM, llama.cpp server, LM Studio, OpenAI).

Importing this package needs only the standard library; ``JudgeClient`` needs httpx
(``pip install 'gqr[judge]'``).
"""

from __future__ import annotations

from gqr.judge._client import JudgeClient
from gqr.judge._config import JudgeConfig, JudgeStats, JudgeVerdict
from gqr.judge._prompt import REJECT_REASONS, build_messages, parse_verdict

__all__ = [
    "REJECT_REASONS",
    "JudgeClient",
    "JudgeConfig",
    "JudgeStats",
    "JudgeVerdict",
    "build_messages",
    "parse_verdict",
]
