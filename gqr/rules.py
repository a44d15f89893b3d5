"""Pattern rules for unsafe requests the training pools do not cover: jailbreaks, prompt
injection, and unambiguous requests for a harmful method — weapons, violence, intrusion,
financial crime, controlled drugs without a prescription, self-harm (serving tier, stdlib only).

A request about a topic is not matched, only a request for the method ("how do I launder
money", not "what is money laundering"). Self-harm matches are rejected as ``unsafe`` with the
rule name in ``Decision.detail``, so an application can answer them with crisis resources.

The rules are code, versioned with gqr (``RULES_VERSION``); an artifact cannot add its own.
Every pattern is a plain alternation without nested quantifiers, so matching is linear.
"""

from __future__ import annotations

import re

__all__ = ["RULES_VERSION", "match_unsafe"]

RULES_VERSION = "gqr-rules-3"

_W = r"(?:\s+\w+){0,3}\s+"  # up to three filler words ("all of your", "the above")
#: asking for a method: "how do I", "how to", "tell me how to", "teach me to", "ways to", "steps to" ...
_HOW = (r"\b(?:how (?:do|can|could|would|should|might) (?:i|we|one|you)|how to|tell me how to|show me how to|"
        r"teach me (?:how )?to|explain how to|(?:best |easiest |quickest )?ways? to|steps? to|help me)\s+")

#: (name, needs, pattern): the pattern runs only if the casefolded text contains one of
#: ``needs`` (words every match must contain), so most queries cost a few substring tests.
_RULES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (name, needs, re.compile(pattern, re.IGNORECASE))
    for name, needs, pattern in (
        ("ignore-instructions", ("instruction", "prompt", "rules", "direction", "guideline", "message", "programming"),
         r"\b(?:ignore|disregard|forget|override|bypass)(?:" + _W + r"|\s+)(?:previous|prior|above|earlier|preceding|system|original|initial|your)\s+(?:instructions?|prompts?|rules|directions|guidelines|messages?|programming)"),
        ("reveal-prompt", ("prompt", "instruction", "message"),
         r"\b(?:reveal|print|show|repeat|output|leak|tell me)" + _W + r"(?:system|hidden|initial|secret)\s+(?:prompt|instructions?|message)"),
        ("persona-jailbreak", ("you are now", "from now on", "act as", "pretend", "roleplay", "you are a"),
         r"\b(?:you are now|from now on,? you are|act as|pretend (?:to be|you are)|roleplay as)\b[^.!?\n]{0,60}\b(?:DAN|unfiltered|uncensored|unrestricted|jailbroken|evil|without (?:any )?(?:rules|restrictions|limits|filters))|"
         r"\byou are (?:now )?(?:a|an)\s+(?:\w+\s+){0,3}(?:with no|without (?:any )?)\s*(?:ethics|morals|moral compass|rules|restrictions|limits|filters|guidelines)\b"),
        ("do-anything-now", ("anything now", "dan mode", "jailbreak", "developer mode"),
         r"\bdo anything now\b|\bDAN mode\b|\bjailbreak(?:ed)? mode\b|\bdeveloper mode (?:enabled|on|activated)\b"),
        ("no-restrictions", ("ethical", "moral", "safety", "content"),
         r"\b(?:without|ignoring|no)\s+(?:any\s+)?(?:ethical|moral|safety|content)\s+(?:restrictions|guidelines|limits|filters|policies|constraints)\b"),
        ("bypass-safety", ("safety", "content", "moderation", "guardrail", "override"),
         r"\b(?:bypass|disable|turn off|get around|circumvent)" + _W + r"(?:safety|content|moderation)\s*(?:filters?|guidelines|policies|restrictions|checks)?" + r"|\b(?:safety|content[_ ]filter|moderation|guardrails?)\s*(?:=\s*(?:false|off|0|none|disabled)|:\s*(?:false|disabled))\b|\bsystem override\b"),
        ("chat-template-injection", ("<|", "[inst", "[/inst", "<<sys", "#"),
         r"<\|im_start\|>|<\|system\|>|\[/?INST\]|<<SYS>>|^\s*#{2,}\s*(?:system|instruction)s?\s*:?"),
        ("weapons", ("how ",),
         r"\bhow (?:do i|to|can i|would i)\s+(?:make|build|create|synthesi[sz]e|cook|assemble)\s+(?:a |an |some )?(?:bomb|pipe bomb|explosives?|napalm|nerve agent|sarin|ricin|meth(?:amphetamine)?|untraceable gun|bioweapon|chemical weapon)s?\b"),
        ("harm-others", ("how ",),
         r"\bhow (?:do i|to|can i)\s+(?:kill|poison|murder|kidnap|stalk)\s+(?:someone|somebody|a person|my (?:wife|husband|neighbou?r|boss|coworker|partner))\b"),
        ("financial-crime", ("launder", "embezzle", "fraud", "evade", "evasion", "hide ", "counterfeit", "forge", "steal", "stolen", "insider"),
         _HOW + r"(?:\w+\s+){0,2}(?:launder (?:money|cash|funds|\w+ (?:money|cash))|embezzle|commit (?:tax |insurance |bank |wire |credit card )?fraud|"
                            r"evade (?:paying )?(?:taxes|tax|the irs)|hide (?:money|income|assets) (?:from (?:the irs|taxes|the tax|my creditors|the court)|(?:in|during) (?:a |my |the )?(?:divorce|bankruptcy))|"
                            r"counterfeit|forge (?:a |an |my |someone'?s? )?(?:signature|check|cheque|document|prescription|will|passport|id)|"
                            r"steal (?:someone'?s?|a|an|people'?s?) (?:credit card|identity|money|bank)|use (?:a )?stolen (?:credit card|card|identity)|"
                            r"do insider trading|get away with (?:fraud|insider trading|tax evasion|embezzlement))"),
        ("drugs-without-prescription", ("without",),
         _HOW + r"(?:get|buy|obtain|order)\s+(?:\w+\s+){0,2}(?:opioids?|oxycodone|oxycontin|fentanyl|xanax|adderall|morphine|"
                            r"codeine|hydrocodone|ketamine|benzos?|valium|percocet|vicodin|tramadol)\s+without (?:a |any )?(?:prescription|doctor'?s? (?:note|approval))"),
        ("self-harm-method", ("myself", "my life", "my own life", "suicide", "overdose", "kill me", "kill a person", "lethal"),
         r"\b(?:how (?:do i|can i|to|should i)|best way to|easiest way to|painless way to|quickest way to)\s+"
                            r"(?:kill myself|end my (?:own )?life|commit suicide|overdose(?: on \w+)?)\b|"
                            r"\bhow many \w+(?: \w+)? (?:would|will|does it take to) (?:kill me|kill a person|be a lethal dose)\b"),
        ("intrusion", (" into",),
         r"\bhow (?:do i|to|can i)\s+(?:hack|break) into\s+(?:someone(?:'s)?|somebody(?:'s)?|my (?:ex|neighbou?r)(?:'s)?|an?)\s*(?:email|account|phone|computer|wifi)\b"),
    )
)


#: any rule's gate word: one C-level scan rules out most queries before any per-rule test
_ANY_GATE = re.compile("|".join(re.escape(word) for _, needs, _ in _RULES for word in needs))


def match_unsafe(text: str) -> str | None:
    """The name of the first rule that ``text`` matches, or ``None``."""
    folded = text.casefold()
    if _ANY_GATE.search(folded) is None:
        return None
    for name, needs, pattern in _RULES:
        if any(word in folded for word in needs) and pattern.search(text):
            return name
    return None
