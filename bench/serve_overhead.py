"""Gateway overhead: latency added by ``poise serve`` over calling an OpenAI-compatible upstream directly.

Three processes on loopback: a fast mock upstream (uvicorn + a raw ASGI app answering with a
chat completion), the gateway (``poise serve`` in a subprocess, audit on, rails on or off), and
this open-loop load generator (requests fired on a fixed schedule, so a slow server cannot slow
the offered load down). Reports p50/p99 at a fixed rate for the upstream alone and through the
gateway, the added latency, the gateway process's CPU time per request (Linux), and the highest
sustained rate with zero errors.

The requests rotate, in a fixed order, over the 122 user messages of
``bench/data/serve_messages.json`` (bank, support and coding questions, a few in Spanish, German,
French, Portuguese or Italian, from "hi" to a pasted code snippet), and the mock rotates over
several replies, so no cache keyed on a message's content can flatter the figure. An answer the
rails refuse (``finish_reason: content_filter``) skipped the model call and the output rails, so
it is counted apart and left out of the gateway's latencies: they are the full path only.

    .venv/bin/python bench/serve_overhead.py            # ~1.5 minutes
    .venv/bin/python bench/serve_overhead.py --quick    # ~30 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MESSAGES: list[str] = json.loads((ROOT / "bench" / "data" / "serve_messages.json").read_text("utf-8"))
REPLIES = [
    "Your card is active. Anything else I can help with?",
    "Sorry about that. A frozen card can be unblocked from the Cards tab whenever you are ready.",
    "Transfers within the euro area usually arrive the next business day.",
    "You can change your PIN at any Acme ATM: insert the card and choose PIN services.",
    "Monthly statements for the last seven years are under Accounts > Documents in the app.",
    "A replacement card normally arrives within five working days; we post it to your home address.",
    "Yes, the sandbox uses the same endpoints with test credentials from the developer portal.",
    "Lo siento por las molestias. Puede bloquear la tarjeta al instante desde la app de Acme.",
]
REPLY = {
    "id": "up",
    "object": "chat.completion",
    "created": 1,
    "model": "mock",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Your card is active. Anything else I can help with?",
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 11, "total_tokens": 31},
}
BODIES = [{"model": "bank", "messages": [{"role": "user", "content": m}]} for m in MESSAGES]

CHUNK = {
    "id": "up",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "mock",
    "choices": [
        {"index": 0, "delta": {"content": REPLY["choices"][0]["message"]["content"]}, "finish_reason": "stop"}
    ],
    "usage": REPLY["usage"],
}
SSE = f"data: {json.dumps(CHUNK)}\n\ndata: [DONE]\n\n"

MOCK = f"""
import itertools, json
import uvicorn
REPLY = json.loads({json.dumps(json.dumps(REPLY))})
def reply(text):
    REPLY["choices"][0]["message"]["content"] = text
    return json.dumps(REPLY).encode()
REPLIES = itertools.cycle([reply(t) for t in {json.dumps(REPLIES)}])
SSE = {json.dumps(SSE)}.encode()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more, body = True, b""
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if b'"stream":true' in body.replace(b" ", b""):
        headers = [(b"content-type", b"text/event-stream"), (b"content-length", str(len(SSE)).encode())]
        await send({{"type": "http.response.start", "status": 200, "headers": headers}})
        await send({{"type": "http.response.body", "body": SSE}})
        return
    body = next(REPLIES)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({{"type": "http.response.start", "status": 200, "headers": headers}})
    await send({{"type": "http.response.body", "body": body}})
import sys
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all threads (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def gateway_yaml(upstream: str, rails: bool, tmp: Path, audit_wait: bool = False) -> Path:
    path = tmp / f"gateway-{'on' if rails else 'off'}.yaml"
    path.write_text(
        f"""
backends:
  mock: {{model: "openai:mock", base_url: "{upstream}", max_retries: 0}}
models:
  - {{id: bank, persona: bank-support, backend: mock}}
guard: {{enabled: {str(rails).lower()}}}
sessions: {{enabled: false}}
audit: {{path: "{tmp / ("audit-" + ("on" if rails else "off") + ".db")}", wait: {str(audit_wait).lower()}}}
server: {{max_in_flight: 512}}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Run:
    """One load run: latencies (ms) of full-path answers, errors, refused answers, achieved rate."""

    latencies: list[float]
    errors: int
    refused: int
    rate: float


def bodies(model: str) -> list[bytes]:
    return [json.dumps({**b, "model": model}).encode() for b in BODIES]


async def load(url: str, rate: float, seconds: float, payloads: list[bytes]) -> Run:
    """Fire ``rate`` requests/s for ``seconds`` (open loop), the ``payloads`` in turn."""
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        run = Run([], 0, 0, 0.0)

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            try:
                r = await client.post(url, content=payloads[i % len(payloads)], headers=headers)
            except httpx.HTTPError:
                run.errors += 1
                return
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                run.errors += 1
            elif r.json()["choices"][0]["finish_reason"] == "content_filter":
                run.refused += 1
            else:
                run.latencies.append(elapsed)

        for i in range(20):  # warm the connection pool and the server
            await one(i)
        run = Run([], 0, 0, 0.0)
        n = int(rate * seconds)
        start = time.perf_counter()
        tasks = []
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        run.rate = n / (time.perf_counter() - start)
        return run


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def max_rate(url: str, payloads: list[bytes], seconds: float, start: int = 100) -> int:
    """The highest rate (doubling, then bisecting) served with zero errors and p99 under 1 s."""
    best, rate, high = 0, start, None
    while True:
        run = await load(url, rate, seconds, payloads)
        lat, errors = run.latencies, run.errors
        ok = errors == 0 and run.rate >= 0.95 * rate and pct(lat, 99) < 1000
        print(
            f"    {rate:5d} req/s: errors {errors}, p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms -> "
            f"{'ok' if ok else 'saturated'}",
            flush=True,
        )
        if ok:
            best = rate
            rate = rate * 2 if high is None else (rate + high) // 2
        else:
            high = rate
            rate = (best + high) // 2
        if high is not None and high - best <= max(25, best // 10):
            return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument(
        "--audit-wait", action="store_true", help="audit.wait: true (answer after the commit)"
    )
    parser.add_argument("--no-max-rate", action="store_true", help="skip the highest-sustained-rate search")
    parser.add_argument("--rails-on-only", action="store_true", help="only the rails-on gateway")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else 15.0
    step = 2.0 if args.quick else 4.0
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            up_port = free_port()
            procs.append(subprocess.Popen([sys.executable, "-c", MOCK, str(up_port)]))
            upstream = f"http://127.0.0.1:{up_port}/v1"
            wait_ready(f"http://127.0.0.1:{up_port}/")
            direct_bodies, gateway_bodies = bodies("mock"), bodies("bank")
            results: dict[str, dict[str, float]] = {}
            run = asyncio.run(load(f"{upstream}/chat/completions", args.rate, seconds, direct_bodies))
            lat, errors = run.latencies, run.errors
            results["direct"] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "errors": errors}
            print(
                f"upstream alone at {args.rate:.0f} req/s: p50 {pct(lat, 50):.2f} ms, "
                f"p99 {pct(lat, 99):.2f} ms, errors {errors}",
                flush=True,
            )
            for rails in (True,) if args.rails_on_only else (False, True):
                name = "rails on" if rails else "rails off"
                port = free_port()
                env = {**os.environ, "PYTHONWARNINGS": "ignore"}
                cmd = [
                    sys.executable,
                    "-m",
                    "poise.cli.main",
                    "serve",
                    "--config",
                    str(gateway_yaml(upstream, rails, tmp, args.audit_wait)),
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ]
                gw = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
                try:
                    wait_ready(f"http://127.0.0.1:{port}/readyz")
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    cpu_before = cpu_seconds(gw.pid)
                    run = asyncio.run(load(url, args.rate, seconds, gateway_bodies))
                    cpu_after = cpu_seconds(gw.pid)
                    lat, errors = run.latencies, run.errors
                    p50, p99 = pct(lat, 50), pct(lat, 99)
                    added50, added99 = p50 - results["direct"]["p50"], p99 - results["direct"]["p99"]
                    # The gateway's own CPU per request (audit writer included): steadier than a
                    # p50 on a shared box, where the host's load moves every latency.
                    cpu_ms = (
                        (cpu_after - cpu_before) * 1000 / max(1, len(lat) + run.refused)
                        if cpu_before is not None and cpu_after is not None
                        else float("nan")
                    )
                    print(
                        f"gateway ({name}) at {args.rate:.0f} req/s: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                        f"errors {errors}, refused {run.refused} (not in the latencies); "
                        f"added p50 {added50:.2f} ms, added p99 {added99:.2f} ms; "
                        f"gateway CPU {cpu_ms:.2f} ms/request",
                        flush=True,
                    )
                    best = 0
                    if not args.no_max_rate:
                        print(f"  highest sustained rate ({name}):", flush=True)
                        best = asyncio.run(max_rate(url, gateway_bodies, step))
                        print(f"  -> {best} req/s with zero errors", flush=True)
                    results[name] = {
                        "p50": p50,
                        "p99": p99,
                        "added_p50": added50,
                        "added_p99": added99,
                        "errors": errors,
                        "refused": run.refused,
                        "cpu_ms_per_request": cpu_ms,
                        "max_rate": best,
                    }
                finally:
                    gw.terminate()
                    gw.wait(10)
            if not args.no_max_rate:
                print("upstream max rate (direct):", flush=True)
                results["direct"]["max_rate"] = asyncio.run(
                    max_rate(f"{upstream}/chat/completions", direct_bodies, step)
                )
            print(json.dumps(results, indent=2))
            on = results["rails on"]
            verdict = "PASS" if on["added_p50"] <= 2 and on["added_p99"] <= 10 else "FAIL"
            print(
                f"floors (rails on, <= 2 ms p50 and <= 10 ms p99 added at {args.rate:.0f} req/s): {verdict}"
            )
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)


if __name__ == "__main__":
    main()
