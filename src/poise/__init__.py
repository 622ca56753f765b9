"""poise: the last mile on top of any model.

The library's front door::

    import asyncio
    from poise import create_engine

    engine = create_engine("bank-support", "local")        # persona, model spec (or a ChatModel)
    turn = asyncio.run(engine.send("I lost my card"))
    print(turn.reply, turn.trace.to_dict())

Everything here is also importable from its own module (``poise.persona``, ``poise.models``,
``poise.context``, ``poise.instructions``, ``poise.guard``, ``poise.audit``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from poise.assistant import create_engine, load_instructions
from poise.context.engine import ConversationEngine, TurnResult, TurnTrace
from poise.errors import ConfigError, ModelError, PersonaError, PoiseError
from poise.instructions.types import RequestContext, UserProfile
from poise.models.registry import resolve_model
from poise.models.types import ChatMessage, ChatModel, ChatResponse, GenerationParams
from poise.persona.compile import CompiledPrompt, compile_persona
from poise.persona.load import load_persona, resolve_persona
from poise.persona.spec import Persona

try:
    __version__ = version("poise")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ChatResponse",
    "CompiledPrompt",
    "ConfigError",
    "ConversationEngine",
    "GenerationParams",
    "ModelError",
    "Persona",
    "PersonaError",
    "PoiseError",
    "RequestContext",
    "TurnResult",
    "TurnTrace",
    "UserProfile",
    "__version__",
    "compile_persona",
    "create_engine",
    "load_instructions",
    "load_persona",
    "resolve_model",
    "resolve_persona",
]
