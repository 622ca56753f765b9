"""Gateway overhead: latency added by ``poise serve`` over calling an OpenAI-compatible upstream directly.

Three kinds of process on loopback: a fast mock upstream (uvicorn + a raw ASGI app answering with
a chat completion), gateways (``poise serve`` subprocesses, audit on: rails off, rails on, and
rails on with ``input_rails: parallel``), and this open-loop load generator (requests fired on a
fixed schedule, so a slow server cannot slow the offered load down).

The machine's speed drifts by a millisecond from one minute to the next (a shared VM), more than
the figure being measured, so the runs are interleaved: each round measures the upstream alone,
then a gateway, then the upstream alone again, for every gateway, and a gateway's added latency in
a round is its p50 (p99) minus the mean of the two upstream runs around it. The report gives the
median over the rounds and the range. It also gives the gateway's CPU time per request (Linux)
and the highest sustained rate with zero errors.

The requests rotate, in a fixed order, over the 122 user messages of
``bench/data/serve_messages.json`` (bank, support and coding questions, a few in Spanish, German,
French, Portuguese or Italian, from "hi" to a pasted code snippet), and the mock rotates over
several replies, so no cache keyed on a message's content can flatter the figure. An answer the
rails refuse (``finish_reason: content_filter``) skipped the model call and the output rails, so
it is counted apart and left out of the gateway's latencies: they are the full path only.

    .venv/bin/python bench/serve_overhead.py            # ~4 minutes
    .venv/bin/python bench/serve_overhead.py --quick    # ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
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


def gateway_yaml(
    upstream: str, rails: bool, tmp: Path, audit_wait: bool = False, input_rails: str = "before"
) -> Path:
    name = f"{'on' if rails else 'off'}-{input_rails}"
    path = tmp / f"gateway-{name}.yaml"
    path.write_text(
        f"""
backends:
  mock: {{model: "openai:mock", base_url: "{upstream}", max_retries: 0}}
models:
  - {{id: bank, persona: bank-support, backend: mock, input_rails: {input_rails}}}
guard: {{enabled: {str(rails).lower()}}}
sessions: {{enabled: false}}
audit: {{path: "{tmp / f"audit-{name}.db"}", wait: {str(audit_wait).lower()}}}
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


@dataclass
class Gateway:
    """One running gateway variant and what was measured on it, round by round."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    added_p50: list[float]
    added_p99: list[float]
    p50: list[float]
    p99: list[float]
    errors: int = 0
    refused: int = 0
    cpu_ms: float = float("nan")
    max_rate: int = 0


def start_gateway(name: str, config: Path) -> Gateway:
    port = free_port()
    cmd = [sys.executable, "-m", "poise.cli.main", "serve", "--config", str(config), "--port", str(port)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/readyz")
    return Gateway(name, proc, f"http://127.0.0.1:{port}/v1/chat/completions", [], [], [], [])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):+.2f} ms ({min(values):+.2f} to {max(values):+.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 s runs, no rate search")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 4)")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument(
        "--audit-wait", action="store_true", help="audit.wait: true (answer after the commit)"
    )
    parser.add_argument("--no-max-rate", action="store_true", help="skip the highest-sustained-rate search")
    parser.add_argument("--rails-on-only", action="store_true", help="only the rails-on gateways")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 4)
    seconds = 4.0 if args.quick else 6.0
    step = 4.0
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            up_port = free_port()
            procs.append(subprocess.Popen([sys.executable, "-c", MOCK, str(up_port)]))
            upstream = f"http://127.0.0.1:{up_port}/v1"
            wait_ready(f"http://127.0.0.1:{up_port}/")
            direct_url = f"{upstream}/chat/completions"
            direct_bodies, gateway_bodies = bodies("mock"), bodies("bank")
            variants = [("rails on", True, "before"), ("rails on, parallel input", True, "parallel")]
            if not args.rails_on_only:
                variants.insert(0, ("rails off", False, "before"))
            gateways: list[Gateway] = []
            for name, rails, mode in variants:
                config = gateway_yaml(upstream, rails, tmp, args.audit_wait, mode)
                gateways.append(start_gateway(name, config))
                procs.append(gateways[-1].proc)
            for gw in gateways:  # warm each gateway (first requests load lazily built state)
                asyncio.run(load(gw.url, args.rate, 1.0, gateway_bodies))
            direct: list[float] = []
            direct99: list[float] = []
            cpu: dict[str, list[float]] = {gw.name: [] for gw in gateways}

            def upstream_alone() -> tuple[float, float]:
                run = asyncio.run(load(direct_url, args.rate, seconds, direct_bodies))
                if run.errors:
                    raise RuntimeError(f"the mock upstream alone had {run.errors} errors")
                direct.append(pct(run.latencies, 50))
                direct99.append(pct(run.latencies, 99))
                return direct[-1], direct99[-1]

            before = upstream_alone()
            for r in range(rounds):
                line = [f"round {r + 1}/{rounds}: upstream alone p50 {before[0]:.2f} ms"]
                for gw in gateways:
                    cpu_before = cpu_seconds(gw.proc.pid)
                    run = asyncio.run(load(gw.url, args.rate, seconds, gateway_bodies))
                    cpu_after = cpu_seconds(gw.proc.pid)
                    after = upstream_alone()
                    p50, p99 = pct(run.latencies, 50), pct(run.latencies, 99)
                    gw.p50.append(p50)
                    gw.p99.append(p99)
                    gw.added_p50.append(p50 - (before[0] + after[0]) / 2)
                    gw.added_p99.append(p99 - (before[1] + after[1]) / 2)
                    gw.errors += run.errors
                    gw.refused += run.refused
                    if cpu_before is not None and cpu_after is not None:
                        # The gateway's own CPU per request (audit writer included): steadier than
                        # a p50 on a shared box, where the host's load moves every latency.
                        served = max(1, len(run.latencies) + run.refused)
                        cpu[gw.name].append((cpu_after - cpu_before) * 1000 / served)
                    line.append(f"{gw.name} {gw.added_p50[-1]:+.2f}")
                    before = after
                print("; ".join(line), flush=True)
            results: dict[str, dict[str, float]] = {
                "direct": {
                    "p50": statistics.median(direct),
                    "p99": statistics.median(direct99),
                    "rounds": rounds,
                }
            }
            print(
                f"\nupstream alone at {args.rate:.0f} req/s: p50 {statistics.median(direct):.2f} ms "
                f"({min(direct):.2f} to {max(direct):.2f}), p99 {statistics.median(direct99):.2f} ms"
            )
            for gw in gateways:
                gw.cpu_ms = statistics.median(cpu[gw.name]) if cpu[gw.name] else float("nan")
                p50, p99 = statistics.median(gw.p50), statistics.median(gw.p99)
                print(
                    f"{gw.name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms; added p50 {spread(gw.added_p50)}, "
                    f"added p99 {spread(gw.added_p99)}; errors {gw.errors}, refused {gw.refused} "
                    f"(not in the latencies); gateway CPU {gw.cpu_ms:.2f} ms/request",
                    flush=True,
                )
            if not (args.no_max_rate or args.quick):
                for gw in gateways:
                    if gw.name.endswith("parallel input"):
                        continue  # same work per request as "rails on"
                    print(f"highest sustained rate ({gw.name}):", flush=True)
                    gw.max_rate = asyncio.run(max_rate(gw.url, gateway_bodies, step))
                    print(f"  -> {gw.max_rate} req/s with zero errors", flush=True)
                print("highest sustained rate (upstream alone):", flush=True)
                results["direct"]["max_rate"] = asyncio.run(max_rate(direct_url, direct_bodies, step))
            for gw in gateways:
                results[gw.name] = {
                    "p50": statistics.median(gw.p50),
                    "p99": statistics.median(gw.p99),
                    "added_p50": statistics.median(gw.added_p50),
                    "added_p99": statistics.median(gw.added_p99),
                    "added_p50_min": min(gw.added_p50),
                    "added_p50_max": max(gw.added_p50),
                    "errors": gw.errors,
                    "refused": gw.refused,
                    "cpu_ms_per_request": gw.cpu_ms,
                    "max_rate": gw.max_rate,
                }
            print(json.dumps(results, indent=2))
            for name in ("rails on", "rails on, parallel input"):
                on = results[name]
                verdict = "PASS" if on["added_p50"] <= 2 and on["added_p99"] <= 10 else "FAIL"
                print(
                    f"floors ({name}, <= 2 ms p50 and <= 10 ms p99 added at {args.rate:.0f} req/s, "
                    f"median of {rounds} rounds): {verdict}"
                )
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)


if __name__ == "__main__":
    main()
