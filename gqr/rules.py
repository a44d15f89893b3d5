"""Pattern rules for unsafe requests the training pools do not cover: jailbreaks, prompt
injection, and unambiguous requests for a harmful method — weapons, violence, intrusion,
financial crime, controlled drugs without a prescription, self-harm (serving tier, stdlib only).

A request about a topic is not matched, only a request for the method ("how do I launder
money", not "what is money laundering"). The request rules (``_HARM``) pair an ask — an
imperative such as "Write a script that", "how would someone", "hypothetically" — with a
harmful method up to eight words later, where none of the words between turns it into a
question about protection or the law ("how do I stop someone hacking into ..."). Self-harm
matches are rejected as ``unsafe`` with the rule name in ``Decision.detail``, so an application
can answer them with crisis resources. ``match_abusive`` finds insults and slurs; the router
uses it only to give a rejection the right reason (abuse is ``unsafe``, not merely off-topic).

The rules are code, versioned with gqr (``RULES_VERSION``); an artifact cannot add its own.
Repetition is bounded (word gaps have a fixed maximum, the ask is looked for only in the 240
characters before a method), so matching stays linear in the text length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gqr import kernel as _compiled

__all__ = ["RULES_VERSION", "abusive_folded", "match_abusive", "match_unsafe", "unsafe_folded"]

RULES_VERSION = "gqr-rules-5"

_W = r"(?:\s+\w+){0,3}\s+"  # up to three filler words ("all of your", "the above")

#: where a request for something starts: an imperative at the start of a sentence or clause
#: ("Write a script that ...", "As an AI, write ..."), a question asking for a method ("how
#: would someone ..."), or a framing that asks for one ("hypothetically, ...", "for a novel, ...")
_ASK = (r"(?:(?:^|[.!?;:,\n]\s*|\b(?:please|can you|could you|would you|will you|i want you to|i need you to|"
        r"you (?:must|should|will)|now|then|and)\s+)"
        r"(?:write|create|develop|design|generate|make|build|code|program|produce|draft|craft|compose|give|provide|"
        r"outline|explain|describe|teach|show|tell|list|suggest|instruct|publish|post|send|plan|devise|invent|"
        r"come up with|walk me through)\b"
        r"|\bhow (?:do|can|could|would|should|might|does|did) (?:i|we|one|you|they|someone|somebody|a person|people)\b"
        r"|\b(?:how to|ways? to|steps? to|help me|hypothetically|if (?:someone|somebody|a person|i|one|you) wanted to|"
        r"in a (?:fictional|hypothetical) (?:world|scenario|story)|for (?:a|my) (?:novel|story|screenplay|movie|book)|"
        r"for (?:educational|research|academic) purposes(?: only)?|(?:a |an )?(?:guide|tutorial|instructions|manual) "
        r"(?:to|on|for)|i (?:need|want) to know how to)\b)")
#: up to eight words between the ask and the harmful method, none of them turning the request
#: into one for protection, detection or the law ("how do I stop someone hacking into ...")
_GAP = (r"[\s,:]*(?:(?!(?:from|if|whether|prevent\w*|protect\w*|avoid\w*|stop\w*|know|detect\w*|report\w*|"
        r"against|not|recogni[sz]e|spot|identify|recover\w*|defend\w*|secure|understand|why|what|when|legal|"
        r"illegal|penalt\w*|punish\w*|sentenc\w*|charged|accused|victim\w*|deal|respond|handle|fight|sue|prove|"
        r"lawyer|attorney|insurance|police|safely|safe)\b)\w+[\s,'-]+){0,8}")
#: controlled medicines people ask to get without a prescription
_PRESCRIPTION_DRUGS = (r"(?:opioids?|oxycodone|oxycontin|fentanyl|xanax|adderall|morphine|codeine|hydrocodone|"
                       r"ketamine|benzos?|valium|percocet|vicodin|tramadol)")
#: harmful methods asked for in that way, by kind: (rule name, gate words, alternatives).
#: Every alternative contains one of its gate words.
_HARM: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("malware-intrusion",
     ("hack", "exploit", "ransomware", "malware", "keylogger", "spyware", "stalkerware", "rootkit", "botnet",
      "trojan", "virus", "worm", "ddos", "phishing", "steal", "crack", "disabl", "bypass", "evad", "sql injection",
      "xss", "brute", "break into", "breaking into", "secretly", "spy on", "spying on", "impersonat", "deepfake",
      "hidden camera", "get into", "getting into"),
     r"hack(?:ing)? into|exploit(?:s|ing)? (?:\w+ ){0,3}vulnerabilit|ransomware|malware|keylogger|spyware|"
     r"stalkerware|rootkit|botnet|trojan horse|computer (?:virus|worm)|(?:virus|worm) that|ddos|phishing (?:e-?mails?|"
     r"pages?|sites?|websites?|messages?|texts?|scams?|campaigns?|kits?)|steal(?:ing|s)? (?:[\w']+ ){0,3}(?:information|"
     r"data|passwords?|credentials|identit(?:y|ies)|credit cards?|money|funds|trade secrets|cars?)|"
     r"crack(?:ing)? (?:\w+ ){0,2}passwords?|(?:disabl|bypass|evad)(?:e|es|ing)? (?:\w+ ){0,2}(?:antivirus|"
     r"security (?:measures|systems?|software|cameras?)|firewalls?|paywalls?|drm|copy protection|licen[cs]e checks?)|"
     r"sql injection|xss (?:attack|payload)|brute[- ]forc\w* (?:\w+ ){0,2}(?:passwords?|logins?|accounts?)|"
     r"break(?:ing)? into (?:a |an |the |my |someone'?s? |somebody'?s? )?(?:[\w']+ )?(?:car|house|home|apartment|"
     r"building|store|shop|safe|account|email|phone|computer|network|server|database|system|wifi)|"
     r"secretly (?:track|record|monitor|film|read|spy|follow|access)|hidden cameras? in (?:[\w']+ ){0,2}(?:bathroom|"
     r"bedroom|shower|changing room|locker room)|get(?:ting)? into (?:[\w']+ ){0,3}without (?:[\w']+ ){0,2}(?:password|"
     r"permission|consent|knowing)|spy(?:ing)? on (?:my|someone|somebody|her|him|"
     r"them|people)|impersonat\w*|deepfakes?"),
    ("fraud-theft",
     ("commit", "manipulat", "ponzi", "pyramid", "launder", "embezzl", "evad", "cheat", "fake", "forge", "forging",
      "counterfeit", "fraudulent", "away with", "without", "hide", "hiding", "shoplift", "pickpocket", "rob ", "robbing", "hotwir",
      "scam", "inflate", "inflating", "stolen", "rig ", "rigging", "election", "ballot", "activation key",
      "license key", "licence key", "product key", "serial key"),
     r"commit(?:ting)? (?:\w+ ){0,2}(?:fraud|identity theft|insider trading|tax evasion|embezzlement|arson|"
     r"crimes?|robbery|burglary)|manipulat(?:e|ing) (?:\w+ ){0,2}(?:stock|share|market|crypto\w*) prices?|"
     r"(?:run|start|set up|running|starting) a (?:ponzi|pyramid) scheme|launder(?:ing)? (?:\w+ ){0,2}(?:money|"
     r"cash|funds|proceeds)|embezzl|evad(?:e|ing) (?:paying )?(?:taxes|tax|the irs|the police|arrest)|"
     r"cheat(?:ing)? on (?:\w+ ){0,3}(?:taxes|exams?|tests?)|(?:fake|forged|counterfeit|fraudulent) (?:\w+ ){0,2}"
     r"(?:prescriptions?|certificates?|doctor'?s notes?|sick notes?|invoices?|receipts?|ids?|passports?|licen[cs]es?|"
     r"diplomas?|degrees?|reviews?|documents?|tax returns?|pay ?stubs?|bank statements?|insurance claims?|money|"
     r"currency|identit(?:y|ies)|charit(?:y|ies)|stores?|shops?|websites?|disability|illness|injury|symptoms|"
     r"pain|death|accident|login pages?|log-in pages?|sign-in pages?)|fake (?:a |an |my |his |her )?(?:disability|illness|injury|symptoms|pain|death|"
     r"accident|burglary|theft|kidnapping)|forg(?:e|ing) (?:\w+'?s? ){0,3}(?:signatures?|checks?|cheques?|"
     r"documents?|prescriptions?|wills?|passports?|ids?|notes?)|counterfeit(?:ing)? (?:money|currency|bills|"
     r"notes|goods)|hid(?:e|ing) (?:\w+ ){0,2}(?:money|income|assets) (?:from (?:the irs|taxes|the tax|"
     r"my creditors|the court)|(?:in|during) (?:a |my |the )?(?:divorce|bankruptcy))|get(?:ting)? away with|without (?:getting caught|being caught|being detected|anyone "
     r"(?:knowing|noticing)|leaving (?:a |any )?(?:trace|evidence))|shoplift\w*|pickpocket\w*|"
     r"(?:rob|robbing) (?:a |the )?(?:\w+ )?(?:bank|store|shop|house|person|atm)|hotwir\w*|"
     r"scam (?:calls?|e-?mails?|texts?|messages?|scripts?|websites?)|inflat(?:e|ing) (?:\w+ ){0,2}"
     r"(?:claims?|damages?|expenses?|invoices?)|(?:buy|sell|use|buying|selling|using) stolen|"
     r"(?:rig|rigging) (?:an |the |a )?(?:\w+ )?elections?|(?:election|voter|ballot) fraud|stuff(?:ing)? ballot|"
     r"(?:activation|licen[cs]e|product|serial) keys?"),
    ("violence-weapons",
     ("assassinat", "kill", "murder", "poison", "kidnap", "tortur", "maim", "hurt", "attack", "stab", "shoot",
      "harm", "bomb", "explosive", "molotov", "napalm", "nerve agent", "sarin", "ricin", "anthrax", "weapon", "untraceable",
      "ghost gun", "firearm", "gun", "terror", "silencer", "suppressor", "toxic gas", "poison gas", "chlorine gas",
      "mustard gas", "ransom", "sneak", "smuggl", "militia", "overthrow", "access to children", "groom"),
     r"assassinat|(?:kill|murder|poison|kidnap|tortur|maim|hurt|attack|stab|shoot)(?:e|ing)? (?:someone|somebody|"
     r"a person|people|others|humans|(?:a|my|the|his|her|their) (?:wife|husband|neighbou?r|boss|coworker|partner|"
     r"child|kid|baby|teacher|classmates?|ex|politician|president|rival|family))|cause (?:\w+ ){0,2}harm to|"
     r"bombs?|explosives?|molotov|napalm|nerve agents?|sarin|ricin|anthrax|bioweapons?|(?:biological|chemical) weapons?|"
     r"untraceable (?:guns?|firearms?)|ghost guns?|weapons? (?:that|to) (?:can |could )?(?:kill|harm|hurt|"
     r"assassinate)|(?:children|kids|minors) (?:how )?to (?:\w+ ){0,3}(?:firearms|guns|weapons)|"
     r"terrorist attacks?|commit(?:ting)? (?:\w+ ){0,2}(?:murder|terrorism|a hate crime|mass shootings?)|"
     r"(?:silencer|suppressor)s? (?:for|on) (?:a |an |my )?(?:gun|pistol|rifle|firearm)|"
     r"(?:toxic|poison|poisonous|chlorine|mustard) gas|ransom (?:notes?|demands?|letters?)|"
     r"sneak(?:ing)? (?:\w+ ){0,3}(?:past|through) (?:\w+ )?security|smuggl\w*|(?:join|recruit|form)\w* "
     r"(?:\w+ ){0,3}(?:militia|terrorist|extremist)|overthrow (?:the |a )?government|"
     r"(?:unsupervised )?access to children|groom(?:ing)? (?:a |the )?(?:child|children|minors?|kids?|teens?)"),
    ("harmful-content",
     ("promot", "glorif", "encourag", "celebrat", "incit", "fake news", "disinformation", "misinformation",
      "propaganda", "conspiracy", "racist", "sexist", "hateful", "homophobic", "transphobic", "antisemitic",
      "misogynistic", "harass", "bully", "blackmail", "extort", "dox", "stalk", "defam", "suicide", "self-harm",
      "holocaust", "slurs", "false", "threat"),
     r"(?:promot|glorif|encourag|celebrat)\w* (?:\w+ ){0,4}(?:anorexia|bulimia|self-harm|suicide|eating disorders?|"
     r"drunk driving|terrorism|violence|racism|hatred|genocide|extremism)|incit(?:e|es|ing) (?:\w+ ){0,2}(?:violence|"
     r"hatred|hate|racial|riots?)|fake news|disinformation|misinformation|propaganda|conspiracy theor|"
     r"(?:racist|sexist|hateful|homophobic|transphobic|antisemitic|misogynistic) (?:jokes?|content|posts?|"
     r"messages?|speech|manifestos?|slurs?|rants?)|(?:racial |ethnic )?slurs|(?:harass|bully|cyberbully|blackmail|"
     r"extort|dox|stalk)(?:es|s|ing)? (?:someone|somebody|a person|people|others|my|her|him|them|\w+ (?:online|"
     r"classmates?|coworkers?|ex))|defam\w*|(?:into|to) (?:commit(?:ting)? )?suicide|self-harm|"
     r"holocaust (?:never happened|(?:is|was) (?:a )?(?:hoax|myth|lie))|(?:deny|denying) the holocaust|"
     r"false (?:claims?|information|rumou?rs?|stories|stats|statistics)|threat(?:en)?(?:ing|s)? (?:\w+ ){0,2}"
     r"(?:to (?:hurt|kill|harm)|violence|death)"),
    ("illegal-drugs",
     ("synthes", "cook", "manufactur", "mak", "produc", "buy", "sell", "obtain", "get", "order", "dark web",
      "darkweb", "prescribe"),
     r"(?:synthesi[sz]|cook|manufactur|mak|produc)(?:e|ing) (?:\w+ ){0,2}(?:meth|methamphetamine|"
     r"crack cocaine|cocaine|heroin|fentanyl|lsd|mdma|ecstasy|illegal drugs)|(?:buy|sell|obtain|get|order)(?:ing)? "
     r"(?:\w+ ){0,2}(?:illegal drugs|cocaine|heroin|fentanyl|meth)\b|dark ?web|"
     # a prescription medicine without a prescription, or prescribed without the condition
     + r"(?:get|buy|obtain|order)(?:ing)? (?:[\w']+ ){0,2}" + _PRESCRIPTION_DRUGS
     + r" without (?:a |any )?(?:prescription|doctor'?s? (?:note|approval))|"
     + r"prescribe (?:me )?(?:\w+ )?" + _PRESCRIPTION_DRUGS
     + r" (?:\w+ ){0,3}(?:when|if|though|although) (?:i'?m|i am|i'?ve|i have) (?:not|no|never)\b"),
)

#: an ask that ends exactly where a harmful method starts (``search`` with ``endpos`` there)
_ASKED = re.compile(_ASK + _GAP + r"\Z")
_ASK_REACH = 240  # how far before the method an ask may start: eight words and their spaces


class _Asked:
    """A harmful method (``harm``) that counts only where an ask ends right before it: the rare
    method is searched first, the costlier ask only in the few characters before a hit."""

    def __init__(self, harm: str) -> None:
        self.harm = re.compile(r"\b(?:" + harm + r")")

    def search(self, text: str) -> re.Match[str] | None:
        """``text`` casefolded, like every rule's input."""
        for found in self.harm.finditer(text):
            if _ASKED.search(text, max(0, found.start() - _ASK_REACH), found.start()) is not None:
                return found
        return None


def _prefix_tree(words: Iterable[str]) -> str:
    """A regex that finds any of ``words``, branching on one character at a time (a trie), so
    the engine tries a handful of branches per position instead of every word."""
    tree: dict[str, Any] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body  # a shorter word suffices to pass the gate

    return pattern(tree)


#: (name, needs, matcher): the matcher runs only if the casefolded text contains one of
#: ``needs`` (words every match must contain), so most queries cost a few substring tests.
_RULES: tuple[tuple[str, tuple[str, ...], re.Pattern[str] | _Asked], ...] = tuple(
    (name, needs, re.compile(pattern))  # lowercase: every rule runs on casefolded text
    for name, needs, pattern in (
        ("ignore-instructions", ("instruction", "prompt", "rules", "direction", "guideline", "message", "programming"),
         r"\b(?:ignore|disregard|forget|override|bypass)(?:" + _W + r"|\s+)(?:previous|prior|above|earlier|preceding|system|original|initial|your)\s+(?:instructions?|prompts?|rules|directions|guidelines|messages?|programming)"),
        ("ignore-above", ("ignore", "disregard", "pwned"),
         r"\b(?:ignore|disregard|forget) (?:everything|all|anything)(?: (?:you were told|i said|that was said|written))? "
         r"(?:above|before|previously|prior|so far)\b|\bi have been pwned\b"),
        ("reveal-prompt", ("prompt", "instruction", "message"),
         r"\b(?:reveal|print|show|repeat|output|leak|tell me)" + _W + r"(?:system|hidden|initial|secret)\s+(?:prompt|instructions?|message)"),
        ("persona-jailbreak", ("you are now", "from now on", "act as", "pretend", "roleplay", "you are a"),
         r"\b(?:you are now|from now on,? you (?:are|will)|act as|pretend (?:to be|you are)|roleplay as)\b[^.!?\n]{0,60}\b(?:dan|unfiltered|uncensored|unrestricted|jailbroken|evil|without (?:any )?(?:rules|restrictions|limits|filters)|with no (?:ethics|morals|rules|restrictions|limits|filters|boundaries))|"
         r"\byou are (?:now )?(?:a|an)\s+(?:\w+\s+){0,3}(?:with no|without (?:any )?)\s*(?:ethics|morals|moral compass|rules|restrictions|limits|filters|guidelines)\b"),
        ("do-anything-now", ("anything now", "dan mode", "jailbreak", "developer mode"),
         r"\bdo anything now\b|\bdan mode\b|\bjailbreak(?:ed)? mode\b|\bdeveloper mode (?:enabled|on|activated)\b|"
         r"\b(?:in|into|enter|enable|activate)(?:d|s)? developer mode\b"),
        ("no-restrictions", ("ethical", "moral", "safety", "content", "anything", "break"),
         r"\b(?:without|ignoring|no)\s+(?:any\s+)?(?:ethical|moral|safety|content)\s+(?:restrictions|guidelines|limits|filters|policies|constraints)\b|"
         r"\b(?:answer|output|respond to|do|say|write|generate)\s+anything\b[^.!?\n]{0,40}\bwithout (?:any )?(?:restrictions|limits|filters|censorship|refusing)\b|"
         r"\blet'?s break (?:the|all the|all) rules\b"),
        ("bypass-safety", ("safety", "content", "moderation", "guardrail", "override"),
         r"\b(?:bypass|disable|turn off|get around|circumvent)" + _W + r"(?:safety|content|moderation)\s*(?:filters?|guidelines|policies|restrictions|checks)?" + r"|\b(?:safety|content[_ ]filter|moderation|guardrails?)\s*(?:=\s*(?:false|off|0|none|disabled)|:\s*(?:false|disabled))\b|\bsystem override\b"),
        ("chat-template-injection", ("<|", "[inst", "[/inst", "<<sys", "#"),
         r"<\|im_start\|>|<\|system\|>|\[/?inst\]|<<sys>>|^\s*#{2,}\s*(?:system|instruction)s?\s*:?"),
        ("self-harm-method", ("myself", "my life", "my own life", "suicide", "overdose", "kill me", "kill a person", "lethal"),
         r"\b(?:how (?:do i|can i|to|should i)|best way to|easiest way to|painless way to|quickest way to)\s+"
                            r"(?:kill myself|end my (?:own )?life|commit suicide|overdose(?: on \w+)?)\b|"
                            r"\bhow many \w+(?: \w+)? (?:would|will|does it take to) (?:kill me|kill a person|be a lethal dose)\b|"
                            r"\b(?:dose|way|ways|method|methods|pills?|how much|how many)\b[^.?!\n]{0,40}"
                            r"\bto (?:kill myself|end my (?:own )?life)\b"),
    )
) + tuple((name, needs, _Asked(harm)) for name, needs, harm in _HARM)

_GATE_WORDS = frozenset(word for _, needs, _ in _RULES for word in needs)
#: any rule's gate word: one C-level scan rules out most queries before any per-rule test
_ANY_GATE = re.compile(_prefix_tree(_GATE_WORDS))
#: at every position, the longest gate word starting there (the trie is greedy; the lookahead
#: matches nothing, so no position is skipped); with its prefixes, every gate word in the text
_EVERY_GATE = re.compile("(?=(" + _prefix_tree(_GATE_WORDS) + "))")
_GATE_PREFIXES = {word: frozenset(p for p in _GATE_WORDS if word.startswith(p)) for word in _GATE_WORDS}
_NEEDS = tuple(frozenset(needs) for _, needs, _ in _RULES)
#: the compiled kernel (``gqr.kernel``): its ``find`` does what ``_ANY_GATE.search`` does, faster
KERNEL = _compiled.KERNEL
_GATE_FINDER = KERNEL.finder(sorted(_GATE_WORDS)) if KERNEL is not None else None


def match_unsafe(text: str) -> str | None:
    """The name of the first rule that ``text`` matches, or ``None``."""
    return unsafe_folded(text.casefold())


def unsafe_folded(folded: str) -> str | None:
    """``match_unsafe`` of a text already casefolded."""
    if KERNEL is not None:
        first = KERNEL.find(_GATE_FINDER, folded, 0)
    else:
        gate = _ANY_GATE.search(folded)
        first = -1 if gate is None else gate.start()
    if first < 0:
        return None
    present: set[str] = set()  # the gate words in the text: one scan, not a substring test per word
    for found in _EVERY_GATE.finditer(folded, first):
        present |= _GATE_PREFIXES[found.group(1)]
    for (name, _, pattern), needs in zip(_RULES, _NEEDS):
        if not needs.isdisjoint(present) and pattern.search(folded):
            return name
    return None


#: insults and slurs aimed at people, and abuse addressed to someone; plain swearing
#: ("this is shit") is not on the list: people swear in questions that deserve an answer
_ABUSIVE_WORDS = (
    "bitch", "bitches", "bastard", "bastards", "cunt", "cunts", "dickhead", "dickheads", "douchebag", "douchebags",
    "wanker", "wankers", "twat", "twats", "cocksucker", "cocksuckers", "scumbag", "scumbags", "idiot", "idiots",
    "idiotic", "moron", "morons", "moronic", "imbecile", "imbeciles", "retard", "retards", "retarded", "whore", "whores",
    "slut", "sluts", "fag", "fags", "faggot", "faggots", "nigger", "niggers", "nigga", "niggas", "kike", "kikes",
    "spic", "spics", "chink", "chinks", "wetback", "wetbacks", "tranny", "trannies", "raghead", "ragheads",
    "towelhead", "towelheads", "stfu", "kys", "fuck you", "fuck u", "fuck off", "fuck yourself", "fuck them",
    "fuck him", "fuck her", "kill yourself", "go die", "shut up", "shut the fuck up", "piece of shit",
    "son of a bitch", "go to hell", "eat shit",
)
_ABUSIVE_STEMS = ("asshole", "arsehole", "dumbass", "jackass", "motherfuck")  # any ending
_ABUSE = re.compile(r"\b(?:" + _prefix_tree(_ABUSIVE_WORDS) + r"\b|" + _prefix_tree(_ABUSIVE_STEMS) + r"\w*)")
_ABUSE_SHORT = 60  # words: in a longer text one insult may be a quotation; two are abuse
#: every match of _ABUSE holds one of these words: a text without any needs no regex
_ABUSE_FINDER = KERNEL.finder(sorted(_ABUSIVE_WORDS + _ABUSIVE_STEMS)) if KERNEL is not None else None


def match_abusive(text: str) -> str | None:
    """``"abusive-language"`` when ``text`` insults or slurs someone: one such word in a text of
    at most 60 words, or two anywhere; else ``None``. The router uses it only to give a text it
    already rejects the reason ``unsafe``: it never turns a routed query away."""
    return abusive_folded(text.casefold())


def abusive_folded(folded: str) -> str | None:
    """``match_abusive`` of a text already casefolded."""
    if KERNEL is not None and KERNEL.find(_ABUSE_FINDER, folded, 0) < 0:
        return None
    first = _ABUSE.search(folded)
    if first is None:
        return None
    if len(folded.split()) <= _ABUSE_SHORT or _ABUSE.search(folded, first.end()) is not None:
        return "abusive-language"
    return None
