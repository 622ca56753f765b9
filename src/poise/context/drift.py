"""The seam where persona drift measurement and correction plug into the conversation engine.

After every reply the engine hands a :class:`TurnObservation` to its :class:`DriftMonitor`. The
monitor may answer with a :class:`DriftSignal`; when ``reinforce`` is true the engine re-injects
the persona reminder on the next turn (correction). A monitor that scores replies against the
persona's checkable rules, or with an embedding or an LLM judge, implements this protocol; the
default, :class:`NoDriftMonitor`, observes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from poise.persona.spec import Persona


@dataclass(frozen=True)
class TurnObservation:
    """One finished turn, as the drift monitor sees it."""

    session_id: str
    turn: int
    user_message: str
    reply: str
    persona: Persona


@dataclass(frozen=True)
class DriftSignal:
    """A monitor's verdict on a turn: a drift score in 0..1 and whether to reinforce the persona."""

    score: float
    reinforce: bool
    reasons: tuple[str, ...] = ()


@runtime_checkable
class DriftMonitor(Protocol):
    """Measures drift after each turn and may ask for the persona to be reinforced."""

    def observe(self, observation: TurnObservation) -> DriftSignal | None: ...


class NoDriftMonitor:
    """The default monitor: measures nothing, never reinforces."""

    def observe(self, observation: TurnObservation) -> DriftSignal | None:
        return None
