#!/usr/bin/env python3
"""Resume load for the `replay` scenario (bench/README.md): how many resumes per second Herald serves
when each reconnecting client missed 100 events.

Setup: each of --workers reliable channels rbench:<tenant>:r<j> gets --gap events in one batch
publish; the acknowledgement's first id, one position back, is the resume point. Then every worker
loops until --duration: connect GET /rbench/r<j> with Last-Event-ID at that point, read the padding,
stream-open and the --gap replayed events (checking they are the right ones, in order), close. The
same gap is replayed each time: the scenario measures the resume path (log read, replay, seam), not
publishing. Prints one JSON line (also written to --out).

Python 3 standard library only (asyncio): the client is cheaper per resume than Herald's side only
up to a point, so its CPU is reported next to the rate (the driver pins it to the load CPU).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import urllib.request


def publish_gap(internal: int, key: str, channel: str, gap: int) -> str:
    """Publishes `gap` events on `channel`; the id just before the first one."""
    body = json.dumps({"events": [{"channel": channel, "event": "bench.progress", "data": {"n": n}}
                                  for n in range(gap)]}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{internal}/publish", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        ack = json.loads(r.read())
    first = ack["ids"][0]
    quoted, _, pos = first.rpartition(":")
    return f"{quoted}:{int(pos) - 1}"


async def resume_once(port: int, path: str, token: str, last_id: str, gap: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write((f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                      f"Last-Event-ID: {last_id}\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"resume answered {head[:60]!r}")
        await reader.readuntil(b"\n\n")  # the padding comment
        opened = await reader.readuntil(b"\n\n")
        if not opened.startswith(b"event: stream-open\nid: "):
            raise RuntimeError(f"expected stream-open, got {opened[:80]!r}")
        for n in range(gap):
            block = await reader.readuntil(b"\n\n")
            if not block.endswith(b'data: {"n":%d}\n\n' % n):
                raise RuntimeError(f"replayed event {n} is {block[-60:]!r}")
        return gap
    finally:
        writer.close()


async def worker(args, j: int, last_id: str, until: float, stats: dict) -> None:
    path = f"/rbench/r{j}"
    while time.monotonic() < until:
        replayed = await resume_once(args.port, path, args.token, last_id, args.gap)
        stats["events"] += replayed  # after the await: a read before it would race the others
        stats["resumes"] += 1


async def main_async(args) -> dict:
    points = [publish_gap(args.internal, args.key, f"rbench:{args.tenant}:r{j}", args.gap)
              for j in range(args.workers)]
    stats = {"resumes": 0, "events": 0}
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    until = t0 + args.duration
    await asyncio.gather(*(worker(args, j, points[j], until, stats) for j in range(args.workers)))
    elapsed = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return dict(workers=args.workers, gap=args.gap, resumes=stats["resumes"], events=stats["events"],
                seconds=round(elapsed, 3), resumes_per_s=round(stats["resumes"] / elapsed, 1),
                client_cpu_s=round(cpu, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="Herald's public port")
    ap.add_argument("--internal", type=int, required=True, help="Herald's internal port")
    ap.add_argument("--key", required=True, help="publisher key")
    ap.add_argument("--token", required=True, help="a JWT of a member of --tenant")
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--workers", type=int, default=32, help="concurrent resuming clients")
    ap.add_argument("--gap", type=int, default=100, help="events each resume replays")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    res = asyncio.run(main_async(args))
    line = json.dumps(res)
    print(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
