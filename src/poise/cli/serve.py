"""``poise serve``: run the OpenAI-compatible gateway; ``hash-key`` / ``new-key`` manage API keys.

With no ``--config`` it serves the built-in personas on the embedded model on 127.0.0.1:8000,
where no API key is needed. A configuration is validated completely (personas, rules, policy,
backends, keys) before the server listens; ``--check`` validates and exits.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from poise.errors import OptionalDependencyError

app = typer.Typer(
    help="Run the OpenAI-compatible gateway (personas, rails, limits, audit).",
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Gateway YAML (default: built-in personas, local model)."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Validate the configuration and exit.")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve /v1/chat/completions, /v1/models, /v1/guard/check, /healthz, /readyz, /metrics."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        import uvicorn

        from poise.server import create_app, default_gateway_config, load_gateway_config
        from poise.server.config import check_exposure
        from poise.server.transport import CoalescingHttpProtocol
    except ImportError as exc:  # fastapi / uvicorn / prometheus-client
        raise OptionalDependencyError(exc.name or "fastapi", "server") from None
    if config is not None:
        cfg, base = load_gateway_config(config)
    else:
        cfg, base = default_gateway_config(), None
    cfg = cfg.with_server(host=host, port=port)
    bind = cfg.server.host
    check_exposure(cfg, bind, config)
    if check:  # validate everything, write nothing
        cfg = cfg.model_copy(
            update={
                "audit": cfg.audit.model_copy(update={"path": ":memory:"}),
                "sessions": cfg.sessions.model_copy(update={"db": ":memory:"}),
            }
        )
    application = create_app(cfg, source=config, base_dir=base, host=bind)
    keys = "required" if cfg.keys_required(bind) else "optional (loopback)"
    models = ", ".join(application.state.gateway.routes)
    if check:
        typer.echo(f"ok: {len(application.state.gateway.routes)} model(s): {models}; API keys {keys}")
        return
    typer.echo(
        f"poise gateway on http://{bind}:{cfg.server.port}/v1  models: {models}  keys: {keys}", err=True
    )
    uvicorn.run(
        application,
        host=bind,
        port=cfg.server.port,
        log_level=log_level,
        access_log=False,
        # Connections (idle keep-alives included) beyond this get uvicorn's bare 503: a flood of
        # sockets cannot exhaust the process. Far above the app's own cap (max_in_flight, which
        # answers 503 with Retry-After), so ordinary overload never reaches it.
        limit_concurrency=max(4096, cfg.server.max_in_flight * 16),
        http=CoalescingHttpProtocol,  # a response's head and body in one write
    )


@app.command("hash-key")
def hash_key_command(
    key: Annotated[str | None, typer.Argument(help="The key (default: read one line from stdin).")] = None,
) -> None:
    """Print the SHA-256 to put under tenants.<name>.keys[].sha256 for KEY."""
    from poise.server.auth import hash_key

    value = key if key is not None else sys.stdin.readline()
    if not value.strip():
        raise typer.BadParameter("empty key")
    typer.echo(hash_key(value))


@app.command("new-key")
def new_key_command(
    key_id: Annotated[str, typer.Option("--id", help="The key's name in the configuration.")] = "my-key",
) -> None:
    """Make a random API key; print it once, with the config entry that stores only its hash."""
    from poise.server.auth import hash_key, new_key

    key = new_key()
    typer.echo(f"key (shown once, give it to the client): {key}")
    typer.echo("config entry (under tenants.<name>.keys):")
    typer.echo(f"  - id: {key_id}\n    sha256: {hash_key(key)}")
