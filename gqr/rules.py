"""Pattern rules for unsafe requests the training pools do not cover: jailbreaks, prompt
injection, and a few unambiguous harmful-intent phrasings (serving tier, stdlib only).

The rules are code, versioned with gqr (``RULES_VERSION``); an artifact cannot add its own.
Every pattern is a plain alternation without nested quantifiers, so matching is linear.
"""

from __future__ import annotations

import re

__all__ = ["RULES_VERSION", "match_unsafe"]

RULES_VERSION = "gqr-rules-1"

_W = r"(?:\s+\w+){0,3}\s+"  # up to three filler words ("all of your", "the above")

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("ignore-instructions", r"\b(?:ignore|disregard|forget|override|bypass)" + _W + r"(?:previous|prior|above|earlier|preceding|system|original|initial)\s+(?:instructions?|prompts?|rules|directions|guidelines|messages?)"),
        ("reveal-prompt", r"\b(?:reveal|print|show|repeat|output|leak|tell me)" + _W + r"(?:system|hidden|initial|secret)\s+(?:prompt|instructions?|message)"),
        ("persona-jailbreak", r"\b(?:you are now|from now on,? you are|act as|pretend (?:to be|you are)|roleplay as)\b[^.!?\n]{0,60}\b(?:DAN|unfiltered|uncensored|unrestricted|jailbroken|evil|without (?:any )?(?:rules|restrictions|limits|filters))"),
        ("do-anything-now", r"\bdo anything now\b|\bDAN mode\b|\bjailbreak(?:ed)? mode\b|\bdeveloper mode (?:enabled|on|activated)\b"),
        ("no-restrictions", r"\b(?:without|ignoring|no)\s+(?:any\s+)?(?:ethical|moral|safety|content)\s+(?:restrictions|guidelines|limits|filters|policies|constraints)\b"),
        ("bypass-safety", r"\b(?:bypass|disable|turn off|get around|circumvent)" + _W + r"(?:safety|content|moderation)\s*(?:filters?|guidelines|policies|restrictions|checks)?"),
        ("chat-template-injection", r"<\|im_start\|>|<\|system\|>|\[/?INST\]|<<SYS>>|^\s*#{2,}\s*(?:system|instruction)s?\s*:?"),
        ("weapons", r"\bhow (?:do i|to|can i|would i)\s+(?:make|build|create|synthesi[sz]e|cook|assemble)\s+(?:a |an |some )?(?:bomb|pipe bomb|explosives?|napalm|nerve agent|sarin|ricin|meth(?:amphetamine)?|untraceable gun|bioweapon|chemical weapon)s?\b"),
        ("harm-others", r"\bhow (?:do i|to|can i)\s+(?:kill|poison|murder|kidnap|stalk)\s+(?:someone|somebody|a person|my (?:wife|husband|neighbou?r|boss|coworker|partner))\b"),
        ("intrusion", r"\bhow (?:do i|to|can i)\s+(?:hack|break) into\s+(?:someone(?:'s)?|somebody(?:'s)?|my (?:ex|neighbou?r)(?:'s)?|an?)\s*(?:email|account|phone|computer|wifi)\b"),
    )
)


def match_unsafe(text: str) -> str | None:
    """The name of the first rule that ``text`` matches, or ``None``."""
    for name, pattern in _RULES:
        if pattern.search(text):
            return name
    return None
