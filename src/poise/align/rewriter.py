"""The guard's ``rewrite`` action, done by the constitution loop.

:class:`ConstitutionalRewriter` implements :class:`poise.guard.pipeline.Rewriter`: when the policy
marks an output ``rewrite``, the pipeline hands it the draft and the verdict, the loop runs (forced:
the policy already decided) with the principles relevant to what the rails flagged, and the
pipeline checks the revision again with every output rail. If the loop cannot produce a revision
(unreadable critique failing closed, a model error), it raises and the pipeline blocks.
"""

from __future__ import annotations

from poise.align.loop import ConstitutionalLoop, LoopResult
from poise.errors import PoiseError
from poise.guard.pipeline import GuardVerdict
from poise.guard.rails import GuardContext

__all__ = ["ConstitutionalRewriter", "RewriteNotPossibleError"]


class RewriteNotPossibleError(PoiseError):
    """The loop ran but left the draft as it was (no violation found, budget spent, unreadable
    critique kept): the guard should fall back to its block."""

    def __init__(self, message: str, *, result: LoopResult) -> None:
        self.result = result
        super().__init__(message)


class ConstitutionalRewriter:
    """A :class:`~poise.guard.pipeline.Rewriter` that runs a :class:`ConstitutionalLoop`.

    Args:
        loop: the loop to run (its actor revises, its critic critiques, its audit records).

    Attributes:
        last_result: the most recent run's result (for inspection and logging).
    """

    def __init__(self, loop: ConstitutionalLoop) -> None:
        self.loop = loop
        self.last_result: LoopResult | None = None

    async def rewrite(self, text: str, verdict: GuardVerdict, ctx: GuardContext) -> str:
        """Revise ``text`` against the principles relevant to what the output rails flagged.

        Raises:
            RewriteNotPossibleError: the loop left the draft unchanged.
            CritiqueParseError: a critique could not be read and the loop fails closed.
            ModelError: the actor or the critic failed.
        """
        flags = tuple(dict.fromkeys(c for r in verdict.results if r.flagged for c in r.categories))
        result = await self.loop.run(
            ctx.user_text or "",
            draft=text,
            persona=ctx.persona,
            flags=flags,
            force=True,
            context=ctx.detection.system_prompt,
            tenant=ctx.tenant or "default",
        )
        self.last_result = result
        if not result.changed:
            raise RewriteNotPossibleError(
                f"the constitution loop left the draft unchanged (stopped: {result.stopped})", result=result
            )
        return result.text
