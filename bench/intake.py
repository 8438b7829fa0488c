"""Case intake over HTTP on PostgreSQL: ``POST /api/v1/cases`` against ``whistle api`` with 1 and 2
worker processes, from a load generator on loopback; beside it, in the same run and database, the
raw rate of single-row insert commits, for the ratio.

The API runs as the real program (uvicorn, the app factory, an embedded Redis for the intake
rate limit, which is set high enough never to refuse). The load generator is one process of
asyncio keep-alive connections speaking plain HTTP/1.1 (cheaper per request than any client
library, so that it takes as little CPU from the server as it can); each connection is its own
resident account. Latency is measured per request at the client. Peak RSS is the largest sum of
the resident set of the uvicorn parent and its workers, sampled every 0.1 s.

With ``--open311`` the requests are GeoReport v2 ``POST /open311/v2/requests.json``
(form-encoded, the key in ``api_key``, a service code and an area code), and the floor's bare
route parses the same form before its lookup, insert and commit.

    .venv/bin/python -m bench.intake                       # 1 and 2 workers, 32 connections
    .venv/bin/python -m bench.intake --workers 2 --connections 64 --seconds 20 --no-record
    .venv/bin/python -m bench.intake --open311 --workers 1 --no-record
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx2
from sqlalchemy import text

from bench.intake_floor import FLOOR
from bench.world import DEFAULT_POSTGRES, fresh_database
from engine.auth import open_account
from engine.db import make_engine, make_session_factory
from engine.models import Base
from engine.organisation.service import create_category, create_node
from engine.vocabulary import OrgKind, Role

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## HTTP intake"
WHISTLE = Path(sys.executable).with_name("whistle")


@dataclass
class LoadResult:
    """What one load phase measured."""

    workers: int
    connections: int
    seconds: float
    succeeded: int = 0  # requests answered 2xx
    failed: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    cpu_seconds: float = 0.0  # of the API processes during the measured phase

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.succeeded if self.succeeded else 0.0

    @property
    def rate(self) -> float:
        return self.succeeded / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


# -- the raw floor: single-row insert commits -----------------------------------------------------


def raw_commit_rate(url: str, *, connections: int, seconds: float) -> float:
    """Commits/s of one-row inserts from ``connections`` concurrent connections."""
    engine = make_engine(url, pool_size=connections, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_raw"))
        conn.execute(
            text("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, at timestamptz, body jsonb)")
        )
    counts = [0] * connections
    start = threading.Barrier(connections + 1)
    stop_at = 0.0

    def run(i: int) -> None:
        with engine.connect() as conn:
            start.wait()
            while time.perf_counter() < stop_at:
                conn.execute(
                    text("INSERT INTO bench_raw (at, body) VALUES (now(), CAST(:b AS jsonb))"),
                    {"b": json.dumps({"title": "井盖丢失", "n": counts[i]}, ensure_ascii=False)},
                )
                conn.commit()
                counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    stop_at = time.perf_counter() + seconds + 0.5
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    engine.dispose()
    return sum(counts) / elapsed


# -- the API under load ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api_processes(pid: int) -> list[int]:
    """A process and its descendants, from /proc (the embedded Redis aside)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            if Path(f"/proc/{current}/comm").read_text().strip() != "redis-server":
                found.append(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS:")), 0)
    return total


def _cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time used so far by these processes."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def request(port: int, token: str, path: str, body: bytes) -> bytes:
    """One ``POST path`` with a JSON body, as sent on the wire."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    port: int, request: bytes, stop_at: float, result: LoadResult, record: bool
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            if not record:
                continue
            result.latencies.append(time.perf_counter() - began)
            if 200 <= status < 300:
                result.succeeded += 1
            else:
                result.failed[status] = result.failed.get(status, 0) + 1
    finally:
        writer.close()


async def _load(
    port: int, requests: list[bytes], seconds: float, result: LoadResult, api: list[int]
) -> None:
    warm = time.perf_counter() + 2.0
    await asyncio.gather(*(_connection(port, r, warm, result, False) for r in requests))
    cpu_before = _cpu_seconds(api)
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_connection(port, r, stop_at, result, True) for r in requests))
    result.cpu_seconds = _cpu_seconds(api) - cpu_before


def run_api_load(
    url: str,
    grid_id: int,
    tokens: list[str],
    *,
    workers: int,
    seconds: float,
    floor: bool = False,
    open311: bool = False,
) -> LoadResult:
    """Start ``whistle api`` (or, with ``floor``, the bare route of ``bench.intake_floor``) with
    ``workers`` processes, load it with intake (GeoReport's with ``open311``), stop it."""
    if open311:
        return serve_and_load(
            url,
            lambda port: [open311_request(port, t) for t in tokens],
            workers=workers,
            seconds=seconds,
            floor=floor,
        )
    body = json.dumps(
        {"title": "井盖丢失", "description": "景山前街3号井盖丢失，夜间危险", "area_id": grid_id},
        ensure_ascii=False,
    ).encode()
    return serve_and_load(
        url,
        lambda port: [request(port, t, "/api/v1/cases", body) for t in tokens],
        workers=workers,
        seconds=seconds,
        floor=floor,
    )


SERVICE_CODE, AREA_CODE = "ROAD", "G1"


def open311_request(port: int, token: str) -> bytes:
    """One GeoReport ``POST /open311/v2/requests.json``, form-encoded, as sent on the wire."""
    body = urlencode(
        {
            "api_key": token, "service_code": SERVICE_CODE, "address_id": AREA_CODE,
            "description": "景山前街3号井盖丢失，夜间危险", "lat": "39.9257", "long": "116.3967",
        }
    ).encode()  # fmt: skip
    head = (
        f"POST /open311/v2/requests.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def serve_and_load(
    url: str,
    requests_for: Callable[[int], list[bytes]],
    *,
    workers: int,
    seconds: float,
    floor: bool = False,
) -> LoadResult:
    """Start ``whistle api`` (or, with ``floor``, the bare routes of ``bench.intake_floor``) with
    ``workers`` processes on a free port, send each of ``requests_for(port)`` over its own
    keep-alive connection again and again (2 s of warm-up, then ``seconds`` measured), stop it."""
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="wh-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {
        "DATABASE_URL": url,
        "WHISTLE_DATA_DIR": str(data_dir),
        "WHISTLE_INTAKE_RATE": str(10**9),
    }
    command = (
        [sys.executable, "-m", "uvicorn", "bench.intake_floor:app", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        if floor
        else [str(WHISTLE), "api", "--port", str(port), "--workers", str(workers),
              "--log-level", "warning"]
    )  # fmt: skip
    server = subprocess.Popen(command, env=env, start_new_session=True)
    requests = requests_for(port)
    result = LoadResult(workers=workers, connections=len(requests), seconds=seconds)
    sampling = threading.Event()

    def sample() -> None:
        peak = 0
        while not sampling.is_set():
            peak = max(peak, _rss_kib(_api_processes(server.pid)))
            time.sleep(0.1)
        result.peak_rss_mib = peak / 1024

    try:
        _wait_healthy(port, server)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        asyncio.run(_load(port, requests, seconds, result, _api_processes(server.pid)))
        sampling.set()
        sampler.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


def _wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"whistle api exited with {server.returncode}")
        try:
            health = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2, trust_env=False)
            if health.is_success:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("whistle api did not become healthy within 60 s")


# -- the run and the report -----------------------------------------------------------------------


def _prepare(url: str, count: int) -> tuple[int, list[str]]:
    """The schema, a district down to one grid, and ``count`` resident accounts with tokens."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    tokens = []
    with make_session_factory(engine)() as session:
        node = None
        for kind, code, zh in [
            (OrgKind.DISTRICT, "D1", "东城区"),
            (OrgKind.STREET, "S1", "景山街道"),
            (OrgKind.COMMUNITY, "C1", "景山社区"),
            (OrgKind.GRID, AREA_CODE, "景山网格"),
        ]:
            node = create_node(session, kind=kind, code=code, name_zh=zh, name_en=code, parent=node)
        assert node is not None
        grid_id = node.id
        create_category(session, code=SERVICE_CODE, name_zh="道路设施", name_en="Roads")
        session.commit()
        for i in range(count):
            _, token = open_account(
                session, username=f"app{i}", role=Role.RESIDENT, scope_code=None,
                now=datetime.now(UTC),
            )  # fmt: skip
            tokens.append(token)
    engine.dispose()
    return grid_id, tokens


def server_facts(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        sync = conn.execute(text("SHOW synchronous_commit")).scalar()
        fsync = conn.execute(text("SHOW fsync")).scalar()
    engine.dispose()
    return f"PostgreSQL {version} (fsync={fsync}, synchronous_commit={sync})"


def tree_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return f"{head} plus the uncommitted work in the tree" if dirty else head
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(
    results: list[LoadResult],
    floors: list[LoadResult],
    raw_one: float,
    raw_many: float,
    facts: str,
    connections: int,
    *,
    open311: bool = False,
) -> str:
    """The Markdown entry of one run."""
    load = os.getloadavg()
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit {tree_commit()}",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; {facts}; load average "
        f"(1 min) at the end of the run {load[0]:.2f}. Load generator and API on the same "
        f"machine (loopback), {connections} keep-alive connections, one resident account each; "
        "peak RSS is the uvicorn parent and its workers (the embedded Redis not counted).",
        "",
        "| API workers | cases/s | p50 ms | p99 ms | errors | API CPU ms/case | peak RSS (MiB) | "
        "HTTP floor req/s | floor CPU ms/req | ÷ HTTP floor | raw commits/s | ÷ raw |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r, f in zip(results, floors, strict=True):
        errors = sum(r.failed.values())
        lines.append(
            f"| {r.workers} | {r.rate:,.0f} | {r.percentile(0.50):.1f} | {r.percentile(0.99):.1f} "
            f"| {errors} | {r.cpu_ms_per_request:.1f} | {r.peak_rss_mib:,.0f} | {f.rate:,.0f} "
            f"| {f.cpu_ms_per_request:.1f} | {r.rate / f.rate:.0%} | {raw_many:,.0f} "
            f"| {r.rate / raw_many:.0%} |"
        )
    lines += [
        "",
        f"Raw single-row insert commits on one connection: {raw_one:,.0f}/s; on {connections} "
        f"connections: {raw_many:,.0f}/s. The HTTP floor is `bench/intake_floor.py`: a bare "
        "FastAPI route on the same uvicorn, psycopg and server that looks the token up (one "
        "SELECT), inserts one row and commits, loaded by the same generator in the same run. "
        "Each Whistle intake is the token lookup (which also takes the case's id from its "
        "sequence), the Redis rate-limit count, and one statement writing the case (with its "
        "org-version guard and chain head), its `raise` event and dispatch clock: 2 SQL "
        "statements and one commit, answered from memory.",
        "",
    ]
    if open311:
        lines[-1:-1] = [
            "",
            "**These requests are GeoReport v2** (`--open311`): `POST /open311/v2/requests.json`, "
            "form-encoded, the key in `api_key`, a service code and an area code; the floor's "
            "route parses the same form. Whistle also reads the service's category and the area "
            "by code: 4 SQL statements and one commit.",
        ]
    return "\n".join(lines)


INTRO = (
    "`python -m bench.intake` (see its docstring): `POST /api/v1/cases` through the real "
    "`whistle api`."
)


def record(entry: str, *, section: str = SECTION, intro: str = INTRO) -> None:
    """Append the entry under ``section`` of ``RESULTS.md`` (its heading and ``intro`` first when
    the file has no such section yet); append only: other sections stay as they are."""
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    heading = "" if section in existing else f"\n{section}\n\n{intro}\n\n"
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(heading + entry + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--open311", action="store_true", help="GeoReport v2 POST, form-encoded")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not args.url.startswith("postgresql"):
        parser.error("the intake benchmark runs on PostgreSQL (--url postgresql+psycopg://...)")
    with fresh_database("postgresql", args.url) as url:
        grid_id, tokens = _prepare(url, args.connections)
        facts = server_facts(url)
        raw_one = raw_commit_rate(url, connections=1, seconds=5)
        raw_many = raw_commit_rate(url, connections=args.connections, seconds=5)
        print(f"raw commits/s: 1 connection {raw_one:,.0f}; {args.connections}: {raw_many:,.0f}")
        with make_engine(url).begin() as conn:
            FLOOR.create(conn)
        results, floors = [], []
        for workers in args.workers:
            floor = run_api_load(
                url, grid_id, tokens, workers=workers, seconds=args.seconds, floor=True,
                open311=args.open311,
            )  # fmt: skip
            print(
                f"HTTP floor, {workers} worker(s): {floor.rate:,.0f} req/s, CPU "
                f"{floor.cpu_ms_per_request:.2f} ms/req, errors {floor.failed}"
            )
            floors.append(floor)
            result = run_api_load(
                url, grid_id, tokens, workers=workers, seconds=args.seconds, open311=args.open311
            )
            print(
                f"{workers} worker(s): {result.rate:,.0f} cases/s, p50 "
                f"{result.percentile(0.5):.1f} ms, p99 {result.percentile(0.99):.1f} ms, "
                f"errors {result.failed}, API CPU {result.cpu_ms_per_request:.2f} ms/case, "
                f"peak RSS {result.peak_rss_mib:,.0f} MiB"
            )
            results.append(result)
    entry = report(
        results, floors, raw_one, raw_many, facts, args.connections, open311=args.open311
    )
    print(entry)
    if not args.no_record:
        record(entry)


if __name__ == "__main__":
    main()
