"""``Router``: text in, ``Decision`` out. The one object applications hold."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gqr.decision import Decision, Reason
from gqr.errors import ArtifactNotFoundError, InvalidInputError
from gqr.guard import GuardRule
from gqr.policy import UNCERTAIN_POLICIES, resolve
from gqr.rules import abusive_folded, unsafe_folded
from gqr.text import MAX_CHARS, clean, has_words, is_small_talk

__all__ = ["Router", "Scorer", "default_model_path"]


class Scorer(Protocol):
    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...


def default_model_path() -> Path:
    """The shipped default model: ``$GQR_MODEL`` if set, else ``gqr/default_model`` (in a
    source checkout a link to ``models/default``; in an installed wheel a copy of it)."""
    env = os.environ.get("GQR_MODEL")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "default_model"


NO_WORDS = "no words: only digits, symbols, emoji or punctuation"
SMALL_TALK = "small talk: a greeting, thanks, a test or a yes/no"


def _asks_nothing(text: str, decision: Decision) -> Decision:
    """Text without a letter, or only small talk ("hello", "test", "thanks"), asks nothing of
    any domain in any language: out_of_domain, whatever the model says."""
    if has_words(text):
        if not is_small_talk(text):
            return decision
        return Decision(None, Reason.OUT_OF_DOMAIN, 1.0, decision.scores, detail=SMALL_TALK)
    return Decision(None, Reason.OUT_OF_DOMAIN, 1.0, decision.scores, detail=NO_WORDS)


class Router:
    """Routes queries to a domain or rejects them, with a reason.

    Build one with ``Router.load(path)`` (an exported artifact; ``None`` = the shipped default)
    or from training (``gqr.training.train_router(...).router()``); both decide identically.

    >>> router = Router.load()  # doctest: +SKIP
    >>> router.route("Can my landlord keep my deposit?").route  # doctest: +SKIP
    'law'
    """

    def __init__(
        self,
        scorer: Scorer,
        guard: GuardRule,
        *,
        uncertain: str = "model",
        coverage: float | None = None,
        judge: Any = None,
        rules: bool = True,
        max_chars: int = MAX_CHARS,
        info: dict[str, Any] | None = None,
    ) -> None:
        if uncertain not in UNCERTAIN_POLICIES:
            raise InvalidInputError(f"uncertain={uncertain!r}: use one of {', '.join(UNCERTAIN_POLICIES)}")
        if uncertain == "judge" and judge is None:
            raise InvalidInputError("uncertain='judge' needs a judge (gqr.judge.JudgeClient)")
        judged = getattr(judge, "domains", None)
        if judged is not None and set(judged) != set(guard.labels):
            raise InvalidInputError(
                f"the judge knows the domains {sorted(judged)} but the model routes to {sorted(guard.labels)}; "
                "build the judge for this model: JudgeClient.for_router(config, router)"
            )
        if coverage is not None:
            try:
                guard.conformal_threshold(coverage)
            except ValueError as exc:
                raise InvalidInputError(str(exc)) from None
        self.scorer = scorer
        self.guard = guard
        self.uncertain = uncertain
        self.coverage = coverage
        self.judge = judge
        self.rules = rules
        self.max_chars = max_chars
        self.info = info or {}

    def with_options(self, **options: Any) -> Router:
        """A router on the same loaded model with other ``uncertain``/``coverage``/``judge``/
        ``rules`` options (the model is not loaded or verified again)."""
        current = {"uncertain": self.uncertain, "coverage": self.coverage, "judge": self.judge, "rules": self.rules}
        return Router(self.scorer, self.guard, **{**current, **options}, max_chars=self.max_chars, info=self.info)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        threads: int = 1,
        uncertain: str = "model",
        coverage: float | None = None,
        judge: Any = None,
        rules: bool = True,
    ) -> Router:
        """Load and verify an exported artifact (checksums, format, graph signature).

        ``uncertain`` says what to do in the uncertain zone: ``model`` (keep the model's
        call), ``reject``, ``accept`` (the top domain) or ``judge`` (ask ``judge``, a
        ``gqr.judge.JudgeClient``). ``coverage`` (e.g. 0.95) defines the zone by conformal
        prediction sets instead of the probability band stored in the model. ``rules``
        rejects jailbreak / prompt-injection patterns and harmful requests as unsafe, and gives
        a rejected text that insults or slurs someone the reason unsafe (``gqr.rules``).
        """
        from gqr.artifact import read_artifact
        from gqr.runtime import OnnxScorer

        root = Path(path) if path is not None else default_model_path()
        if path is None and not root.exists():
            raise ArtifactNotFoundError(
                f"the default model is not at {root}; pass a model directory (--model DIR) or set GQR_MODEL"
            )
        artifact = read_artifact(root)
        max_chars = int(artifact.manifest.get("preprocessing", {}).get("max_chars", MAX_CHARS))
        return cls(
            OnnxScorer(artifact, threads=threads),
            artifact.guard,
            uncertain=uncertain,
            coverage=coverage,
            judge=judge,
            rules=rules,
            max_chars=max_chars,
            info=artifact.manifest,
        )

    @property
    def labels(self) -> list[str]:
        """The domains, in output order."""
        return list(self.guard.labels)

    @property
    def columns(self) -> list[str]:
        """All output columns: domains, then background (rejection) columns."""
        return list(self.guard.labels) + list(self.guard.background)

    def _clean_all(self, texts: Sequence[str | bytes]) -> tuple[list[str], list[int], dict[int, str]]:
        cleaned: list[str] = []
        index: list[int] = []
        errors: dict[int, str] = {}
        for i, text in enumerate(texts):
            try:
                cleaned.append(clean(text, self.max_chars))
                index.append(i)
            except InvalidInputError as exc:
                errors[i] = str(exc)
        return cleaned, index, errors

    def predict_proba(self, texts: Sequence[str | bytes]) -> np.ndarray:
        """Calibrated probabilities over ``columns`` for every text (raises on invalid input)."""
        cleaned = [clean(t, self.max_chars) for t in texts]
        if not cleaned:
            return np.zeros((0, len(self.columns)), dtype=np.float32)
        return self.scorer.scores(cleaned)[1]

    def route(self, text: str | bytes) -> Decision:
        """Route one query. Invalid input gives a rejection with ``reason=invalid_input``.

        The same decision as ``route_batch([text])[0]``, by a shorter path (no one-row batch).
        """
        try:
            cleaned = clean(text, self.max_chars)
        except InvalidInputError as exc:
            if self.judge is not None:  # as route_batch: the judge hears of every routed batch
                resolve([], [], self.uncertain, self.judge)
            return Decision.invalid(str(exc))
        decision = self._decide_one(cleaned)
        if self.judge is not None or (decision.uncertain and self.uncertain != "model"):
            return resolve([decision], [cleaned], self.uncertain, self.judge)[0]
        return decision

    def _decide_one(self, cleaned: str) -> Decision:
        """The model's decision on one cleaned text, with the no-words check and the rules."""
        scorer = self.scorer
        score_one = getattr(scorer, "score_one", None)
        logits, probs = scorer.scores([cleaned]) if score_one is None else score_one(cleaned)
        guard = self.guard
        if guard.method == "msp" and self.coverage is None:
            decision = guard.decide_row(probs.tolist()[0])
        else:
            decision = guard.decide(logits, probs, self.coverage)[0]
        decision = _asks_nothing(cleaned, decision)
        return self._apply_rules(cleaned, decision) if self.rules else decision

    def route_batch(self, texts: Sequence[str | bytes]) -> list[Decision]:
        """Route many queries in one vectorised call; one ``Decision`` per text, in order.

        A bad row (empty, not UTF-8, not text) gets an ``invalid_input`` rejection; the
        others are routed as usual.
        """
        cleaned, index, errors, model_decisions, _ = self._model_decisions(texts)
        return self._assemble(len(texts), index, errors, resolve(model_decisions, cleaned, self.uncertain, self.judge))

    def route_batch_with_probabilities(self, texts: Sequence[str | bytes]) -> tuple[list[Decision], np.ndarray]:
        """``route_batch``, plus each row's calibrated probabilities over ``columns`` (domains,
        then rejection classes; a zero row for invalid input), from the same model call."""
        cleaned, index, errors, model_decisions, probs = self._model_decisions(texts)
        full = np.zeros((len(texts), len(self.columns)), dtype=np.float64)
        if probs is not None:
            full[index] = probs
        decisions = self._assemble(len(texts), index, errors, resolve(model_decisions, cleaned, self.uncertain, self.judge))
        return decisions, full

    async def aroute(self, text: str | bytes) -> Decision:
        """Async ``route``: only the judge (if asked) awaits; the model runs inline."""
        return (await self.aroute_batch([text]))[0]

    async def aroute_batch(self, texts: Sequence[str | bytes]) -> list[Decision]:
        """Async ``route_batch``; judge calls for uncertain rows run concurrently."""
        from gqr.policy import aresolve

        cleaned, index, errors, model_decisions, _ = self._model_decisions(texts)
        resolved = await aresolve(model_decisions, cleaned, self.uncertain, self.judge)
        return self._assemble(len(texts), index, errors, resolved)

    def _model_decisions(
        self, texts: Sequence[str | bytes]
    ) -> tuple[list[str], list[int], dict[int, str], list[Decision], np.ndarray | None]:
        if isinstance(texts, (str, bytes)):
            raise InvalidInputError("route_batch expects a sequence of texts; use route() for one text")
        cleaned, index, errors = self._clean_all(texts)
        decisions: list[Decision] = []
        probs = None
        if cleaned:
            logits, probs = self.scorer.scores(cleaned)
            decisions = self.guard.decide(logits, probs, self.coverage)
            if self.rules:
                apply_rules = self._apply_rules
                decisions = [apply_rules(t, _asks_nothing(t, d)) for t, d in zip(cleaned, decisions)]
            else:
                decisions = [_asks_nothing(t, d) for t, d in zip(cleaned, decisions)]
        return cleaned, index, errors, decisions, probs

    @staticmethod
    def _apply_rules(text: str, decision: Decision) -> Decision:
        folded = text.casefold()
        rule = unsafe_folded(folded)
        if rule is None:
            reason = decision.reason  # identity tests: an Enum's hash is Python code
            if reason is not Reason.OUT_OF_DOMAIN and reason is not Reason.OTHER_LANGUAGE:
                return decision
            rule = abusive_folded(folded)  # a rejection of abusive text gives the reason unsafe
            if rule is None:
                return decision
        return Decision.unsafe(rule, decision.scores)

    @staticmethod
    def _assemble(n: int, index: list[int], errors: dict[int, str], decisions: list[Decision]) -> list[Decision]:
        if not errors and len(decisions) == n:  # every row valid and decided, in order
            return decisions
        out: list[Decision | None] = [None] * n
        for i, message in errors.items():
            out[i] = Decision.invalid(message)
        for i, decision in zip(index, decisions):
            out[i] = decision
        if any(d is None for d in out):  # a scorer or policy that lost rows must not shift the others
            raise RuntimeError(f"internal error: {sum(d is None for d in out)} of {n} rows got no decision")
        return out  # type: ignore[return-value]
