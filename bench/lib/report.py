#!/usr/bin/env python3
"""Turns bench/results/<date>/results.jsonl into summary.md and PNG plots (gnuplot).

    python3 bench/lib/report.py bench/results/<date>

For each (scenario, server, variant) the latest full run is used (a --quick run only when no full run
exists, and then marked). When that run was one of several rounds of one invocation (driver --rounds),
its figures are the median of those rounds, each round's value kept beside it. Python 3 standard
library + gnuplot.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

SUB_BITS = 7
HALF = 1 << (SUB_BITS - 1)
SUB = 1 << SUB_BITS


def bucket_value(idx: int) -> float:
    """Midpoint of a histogram bucket (same layout as bench/src/common.hpp)."""
    if idx < SUB:
        return float(idx)
    shift = idx // HALF - 1
    sub = idx % HALF + HALF
    return float((sub << shift) + ((1 << shift) >> 1))


def load(results_dir: Path) -> tuple[list[dict], dict]:
    recs = []
    f = results_dir / "results.jsonl"
    if f.exists():
        for line in f.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    pass
    for r in recs:
        # The latency compared with the targets: up to the subscriber's socket (the kernel's receive
        # stamp) over the window after the warm-up, when the run has them (see "Latency" and "Warm-up"
        # in bench/README.md); older runs: the whole run as read by the loadgen.
        if r.get("warmup_s") and r.get("lat_arrival_steady_p99_ms") is not None:
            r["lat_target_p99_ms"] = r["lat_arrival_steady_p99_ms"]
        elif r.get("warmup_s") and r.get("lat_steady_p99_ms") is not None:
            r["lat_target_p99_ms"] = r["lat_steady_p99_ms"]
        else:
            r["lat_target_p99_ms"] = r.get("lat_p99_ms")
    machine = {}
    m = results_dir / "machine.json"
    if m.exists():
        machine = json.loads(m.read_text())
    return recs, machine


def latest(recs: list[dict]) -> dict:
    """(scenario, server, variant) -> record: the latest full run, else the latest quick run."""
    best: dict = {}
    for r in recs:
        if r.get("scenario") == "note":
            continue
        k = (r.get("scenario"), r.get("server"), r.get("variant"))
        cur = best.get(k)
        if cur is None or (cur.get("quick") and not r.get("quick")) or \
           (bool(cur.get("quick")) == bool(r.get("quick")) and r.get("time", "") >= cur.get("time", "")):
            best[k] = r
    return best


# Figures that are counts or settings, not measurements: never replaced by a median.
FIXED = {"round", "n", "channels", "rate", "duration", "warmup_s", "event_bytes", "batch", "count", "concurrency",
         "opened"}
# Must hold in every round: summed, so one round's loss shows.
SUMMED = {"lost", "failures"}
# Shown with each round's value in the targets table.
PER_ROUND = ("lat_target_p99_ms", "cpu_us_per_delivery", "cpu_us_per_publish", "connects_per_s",
             "deliveries_per_s", "publishes_per_s")


def median(xs: list[float]) -> float:
    s = sorted(xs)
    k = len(s) // 2
    return s[k] if len(s) % 2 else (s[k - 1] + s[k]) / 2


def with_rounds(recs: list[dict], best: dict) -> dict:
    """Replaces a key's record by the median of its invocation's rounds, when it had several."""
    out = dict(best)
    for k, r in best.items():
        if r.get("round") is None or r.get("quick"):
            continue
        same = [x for x in recs if (x.get("scenario"), x.get("server"), x.get("variant")) == k
                and x.get("run_id") == r.get("run_id") and x.get("round") is not None and not x.get("error")]
        if len(same) < 2:
            continue
        same.sort(key=lambda x: x["round"])
        m = dict(r)
        for f, v in r.items():
            if f in FIXED or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            vals = [x.get(f) for x in same]
            if any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in vals):
                continue
            m[f] = sum(vals) if f in SUMMED else median(vals)
        m["rounds"] = len(same)
        m["round_values"] = {f: [x.get(f) for x in same] for f in PER_ROUND if r.get(f) is not None}
        m["contended"] = any(x.get("contended") for x in same)
        m["load_bound"] = any(x.get("load_bound") for x in same)
        out[k] = m
    return out


def rounds_text(r: dict, key: str, digits: int = 2) -> str:
    """'; median of 3 rounds: a, b, c' when the figure is a median."""
    vals = (r.get("round_values") or {}).get(key)
    if not vals or len(vals) < 2:
        return ""
    return f"median of {len(vals)} rounds: " + ", ".join(fmt(v, digits) for v in vals)


def paren(t: str) -> str:
    return f" ({t})" if t else ""


def fmt(v, digits=1, unit=""):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int,)) and abs(v) >= 1000:
        return f"{v:,}{unit}"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}{unit}"
        if abs(v) >= 100:
            return f"{v:.0f}{unit}"
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def p99_text(r):
    """The p99 after the warm-up (whole run in brackets); older runs: whole run (after 1 s)."""
    if r.get("warmup_s"):
        t = f"{fmt(r.get('lat_target_p99_ms'), 2, ' ms')} ("
        if rt := rounds_text(r, "lat_target_p99_ms"):
            t += rt + "; "
        if r.get("lat_arrival_steady_p99_ms") is not None:
            t += f"as read by the loadgen: {fmt(r.get('lat_steady_p99_ms'), 2, ' ms')}; "
        return t + f"whole run, {fmt(r['warmup_s'], 0)} s warm-up included: {fmt(r.get('lat_p99_ms'), 2, ' ms')})"
    t = fmt(r.get("lat_p99_ms"), 2, " ms")
    if r.get("lat_steady_p99_ms") is not None:
        t += f" (after 1 s: {fmt(r.get('lat_steady_p99_ms'), 2, ' ms')})"
    return t


def behind_ms(r):
    """How far a fixed-rate publisher fell behind its schedule at worst (requests it could not send yet, as
    time at its rate): requests are stamped when built, so a latency does not include that lag."""
    p = r.get("publisher") or {}
    if not r.get("rate") or p.get("backlog_max") is None:
        return "–"
    return fmt(p["backlog_max"] / r["rate"] * 1000, 1, " ms")


def ratio(a, b, digits=2):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.{digits}f}×"


def flags(r: dict) -> str:
    out = []
    if r.get("error"):
        out.append("ERROR: " + r["error"][:80])
    if r.get("quick"):
        out.append("quick")
    if r.get("rounds"):
        out.append(f"median of {r['rounds']} rounds")
    if r.get("contended"):
        out.append(f"contended ({r['window']['server_core_other']:.0%} of the server core used by others)")
    if r.get("load_bound"):
        out.append("load core saturated")
    if r.get("failures"):
        out.append(f"{r['failures']} stream failures")
    return "; ".join(out)


def table(head: list[str], rows: list[list[str]]) -> str:
    s = "| " + " | ".join(head) + " |\n|" + "|".join("---" for _ in head) + "|\n"
    for row in rows:
        s += "| " + " | ".join(row) + " |\n"
    return s


SERVER_ORDER = {"herald": 0, "nchan": 1, "floor": 2}


def order(items):
    return sorted(items, key=lambda r: (SERVER_ORDER.get(r["server"], 9), r.get("rate", 0) or 1e9,
                                        r.get("batch", 0), r.get("n", 0), r.get("variant", "")))


def summary(results_dir: Path) -> str:
    recs, m = load(results_dir)
    best = with_rounds(recs, latest(recs))
    by = lambda sc: order([r for (s, _, _), r in best.items() if s == sc])
    get = lambda sc, srv, var: best.get((sc, srv, var))
    out = [f"# Herald benchmark results — {results_dir.name}\n"]
    out.append("Generated by `bench/lib/report.py` from `results.jsonl` (one JSON line per run; the latest full "
               "run of each scenario/server/variant is shown, and where that invocation ran it in several rounds "
               "(`--rounds`), the median of the rounds, each round's value in the targets table). Method: "
               "`bench/README.md`.\n")
    if m:
        out.append("## Machine\n")
        out.append(table(["fact", "value"], [
            ["CPU", f"{m.get('cpu_model')} × {m.get('nproc')} ({m.get('hypervisor') or 'bare metal'})"],
            ["memory", f"{m.get('mem_gib')} GiB"], ["kernel", m.get("kernel", "")],
            ["open files (hard cap)", str(m.get("nofile_hard"))],
            ["pinning", f"server on CPU {m.get('server_cpu')}, load (loadgen, publisher, Redis) on CPU {m.get('load_cpu')}"],
            ["CPU accounting", f"{m.get('cpu_accounting')}, {m.get('clk_tck')} ticks/s"],
            ["compiler", m.get("gxx", "")], ["nginx / nchan", f"{m.get('nginx', '')} / nchan {m.get('nchan', '')}"],
            ["Redis", m.get("redis", "")],
            ["Herald", f"{m.get('herald_binary') or 'not built'} ({m.get('herald_build_type') or '?'} build; git {m.get('git')}{', src/ modified' if m.get('git_dirty') else ''})"],
            ["date", m.get("date", "")]]))

    floor_fo1 = get("fanout", "floor", "flat-out 1/write")
    floor_fo10 = get("fanout", "floor", "flat-out 10/write")
    f1 = floor_fo1.get("cpu_us_per_delivery") if floor_fo1 else None
    f10 = floor_fo10.get("cpu_us_per_delivery") if floor_fo10 else None

    # ----------------------------------------------------------------------------------- fanout
    fo = by("fanout")
    if fo:
        out.append("## fanout — 5,000 subscribers on one channel, ~220-byte events\n")
        out.append("CPU per delivery = server process time (utime+stime) + ksoftirqd on the server core (loopback "
                   "delivery work the kernel deferred), over the delivery window, divided by deliveries. "
                   "`× floor 1/w same rate` divides by the floor's cost at one event per write at the same "
                   "offered rate (flat out for flat-out runs); `× floor 10/w` by the floor's flat-out cost at ten "
                   f"events per write (floor flat out: 1/write = {fmt(f1, 2)} µs, 10/write = {fmt(f10, 2)} µs). "
                   "The floor cannot carry 200/s one event per write: its '200/s 1/write' run is its maximum.\n")
        rows = []
        for r in fo:
            nch = get("fanout", "nchan", r["variant"]) if r["server"] != "nchan" else None
            same = get("fanout", "floor", f"{r['variant'].split()[0]} 1/write") if r.get("rate") else floor_fo1
            fs = same.get("cpu_us_per_delivery") if same else None
            rows.append([r["server"], r["variant"], fmt(r.get("offered_deliveries_per_s")),
                         fmt(r.get("deliveries_per_s")),
                         ratio(r.get("deliveries_per_s"), nch.get("deliveries_per_s")) if nch else "–",
                         fmt(r.get("lost")), fmt(r.get("lat_p50_ms"), 2), fmt(r.get("lat_p99_ms"), 2),
                         fmt(r.get("lat_p999_ms"), 2), fmt(r.get("lat_steady_p99_ms"), 2),
                         fmt(r.get("lat_arrival_steady_p99_ms"), 2), fmt(r.get("read_delay_p99_ms"), 2),
                         fmt(r.get("cpu_us_per_delivery"), 2),
                         ratio(r.get("cpu_us_per_delivery"), fs), ratio(r.get("cpu_us_per_delivery"), f10),
                         fmt((r.get("loadgen_cpu_share") or 0) * 100, 0, "%"),
                         fmt((r.get("window") or {}).get("load_core_busy", 0) * 100, 0, "%"), flags(r)])
        out.append(table(["server", "rate", "offered/s", "deliveries/s", "× nchan", "lost", "p50 ms", "p99 ms",
                          "p99.9 ms", "p99 after warm-up", "same, up to the socket", "loadgen read delay p99",
                          "CPU µs/delivery", "× floor 1/w same rate", "× floor 10/w", "loadgen CPU",
                          "load core busy", "notes"], rows))

    # ----------------------------------------------------------------------------------- h2fanout
    h2 = by("h2fanout")
    if h2:
        out.append("## h2fanout — the fanout scenario over HTTP/2 next to HTTP/1.1 (Herald)\n")
        out.append("Same 5,000 subscribers on one channel and the same events; HTTP/2 carries 100 streams on each "
                   "h2c connection (50 connections), HTTP/1.1 one connection per stream. `× HTTP/1.1` divides by "
                   "the HTTP/1.1 run at the same rate in the same invocation.\n")
        rows = []
        for r in h2:
            rate = r["variant"].split()[-1]
            h1 = get("h2fanout", "herald", f"HTTP/1.1 {rate}")
            rows.append([r["variant"], fmt(r.get("offered_deliveries_per_s")), fmt(r.get("deliveries_per_s")),
                         ratio(r.get("deliveries_per_s"), h1.get("deliveries_per_s")) if h1 and h1 is not r else "–",
                         fmt(r.get("lost")), fmt(r.get("lat_p50_ms"), 2), fmt(r.get("lat_p99_ms"), 2),
                         fmt(r.get("lat_steady_p99_ms"), 2), fmt(r.get("cpu_us_per_delivery"), 2),
                         ratio(r.get("cpu_us_per_delivery"), h1.get("cpu_us_per_delivery")) if h1 and h1 is not r else "–",
                         fmt((r.get("loadgen_cpu_share") or 0) * 100, 0, "%"), flags(r)])
        out.append(table(["transport, rate", "offered/s", "deliveries/s", "× HTTP/1.1", "lost", "p50 ms", "p99 ms",
                          "p99 after warm-up", "CPU µs/delivery", "CPU × HTTP/1.1", "loadgen CPU", "notes"], rows))

    # ----------------------------------------------------------------------------------- spread
    sp = by("spread")
    if sp:
        out.append("## spread — 5,000 subscribers over 1,000 channels, one event per POST\n")
        out.append("Flat out (8 connections × 4 pipelined POSTs): the most publishes/s accepted; latency there is "
                   "queueing. At a fixed rate (the target, 18,000/s): latency under a load the server should carry.\n")
        rows = []
        for r in sp:
            var = r["variant"].split()[0]
            fl = get("spread", "floor", f"{var} 1/write")
            fh = get("spread", "floor", f"{var} HTTP")
            nch = get("spread", "nchan", var)
            rows.append([r["server"], r["variant"], fmt(r.get("offered_deliveries_per_s") and r["rate"]),
                         fmt(r.get("publishes_per_s")),
                         ratio(r.get("publishes_per_s"), nch.get("publishes_per_s")) if nch and r is not nch else "–",
                         fmt(r.get("deliveries_per_s")), fmt(r.get("lost")), fmt(r.get("lat_p50_ms"), 2),
                         fmt(r.get("lat_p99_ms"), 2), fmt(r.get("lat_p999_ms"), 2),
                         fmt(r.get("lat_steady_p99_ms"), 2), fmt(r.get("lat_arrival_steady_p99_ms"), 2),
                         fmt(r.get("read_delay_p99_ms"), 2),
                         fmt(r.get("cpu_us_per_publish"), 2), fmt(r.get("cpu_us_per_delivery"), 2),
                         ratio(r.get("cpu_us_per_publish"), fl.get("cpu_us_per_publish")) if fl else "–",
                         ratio(r.get("cpu_us_per_publish"), fh.get("cpu_us_per_publish")) if fh else "–",
                         fmt(((r.get("publisher") or {}).get("cpu_share") or 0) * 100, 0, "%"),
                         behind_ms(r),
                         fmt((r.get("loadgen_cpu_share") or 0) * 100, 0, "%"), flags(r)])
        out.append(table(["server", "run", "offered/s", "publishes/s", "× nchan", "deliveries/s", "lost", "p50 ms", "p99 ms",
                          "p99.9 ms", "p99 after warm-up", "same, up to the socket", "loadgen read delay p99",
                          "CPU µs/publish", "CPU µs/delivery", "× floor 1/w",
                          "× HTTP floor", "publisher CPU", "publisher behind, max", "loadgen CPU", "notes"], rows))
        out.append("The floor runs twice. '1/write': it generates each event in-process, so its figure is the "
                   "delivery cost alone (5 writes per event). 'HTTP': the same publisher as Herald's sends it one "
                   "POST per event; it finds each request's end and the channel and `data` bytes by string search, "
                   "writes the 5 deliveries and answers every request of a read in one write — the least one "
                   "event per POST costs here, request read and response write included.\n")

    # ------------------------------------------------------------------------------------- idle
    idle = by("idle")
    if idle:
        out.append("## idle — N open streams, no events\n")
        out.append("RSS per stream = (server VmRSS with N streams open − VmRSS before) / N; for nchan the "
                   "worker's RSS (includes the shared-memory pages it touched). Kernel socket memory is not in "
                   "RSS (`kernel_tcp_kib_per_stream` in the JSON, from /proc/net/sockstat, is machine-wide and noisy).\n")
        rows = []
        for r in idle:
            nch = get("idle", "nchan", r["variant"])
            rows.append([r["server"], fmt(r.get("n")), fmt(r.get("opened")), fmt(r.get("failures")),
                         fmt(r.get("rss_kib_per_stream"), 2),
                         ratio(nch.get("rss_kib_per_stream"), r.get("rss_kib_per_stream"), 1)
                         if nch and r is not nch else "–",
                         fmt((r.get("rss_after_kib") or 0) / 1024, 1),
                         fmt(r.get("connects_per_s")), fmt(r.get("est_p50_ms"), 2), fmt(r.get("est_p99_ms"), 2),
                         fmt((r.get("idle_cpu_share") or 0) * 100, 2, "%"), flags(r)])
        out.append(table(["server", "N", "open", "failures", "RSS KiB/stream", "nchan ÷ this", "RSS MiB total",
                          "opens/s", "establish p50 ms", "establish p99 ms",
                          "idle CPU", "notes"], rows))

    # ---------------------------------------------------------------------------------- connect
    co = by("connect")
    if co:
        out.append("## connect — connection churn: connect, stream opens, close; 128 in flight\n")
        rows = []
        for r in co:
            rows.append([r["server"], r.get("variant", ""), fmt(r.get("connects_per_s")), fmt(r.get("opened")),
                         fmt(r.get("failures")), fmt(r.get("est_p50_ms"), 2), fmt(r.get("est_p99_ms"), 2),
                         fmt(r.get("cpu_us_per_connect"), 1),
                         fmt((r.get("loadgen_cpu_share") or 0) * 100, 0, "%"), flags(r)])
        out.append(table(["server", "auth", "connects/s", "opened", "failures", "establish p50 ms",
                          "establish p99 ms", "CPU µs/connect", "loadgen CPU", "notes"], rows))
        out.append("Herald verifies a fresh RS256 JWT (pre-minted, no cache hit possible) and looks up the "
                   "membership for each connect; nchan and the floor do no authentication (reference only).\n")

    # ------------------------------------------------------------------------------- connect-pg
    cp = by("connect-pg")
    if cp:
        out.append("## connect-pg — authenticated connects with the Prowler API's profile, PostgreSQL vs SQLite\n")
        rows = []
        for r in cp:
            rows.append([r.get("variant", ""), fmt(r.get("connects_per_s")), fmt(r.get("opened")),
                         fmt(r.get("failures")), fmt(r.get("est_p50_ms"), 2), fmt(r.get("est_p99_ms"), 2),
                         fmt(r.get("cpu_us_per_connect"), 1), fmt(r.get("pg_round_trips_per_connect"), 3),
                         fmt((r.get("loadgen_cpu_share") or 0) * 100, 0, "%"), flags(r)])
        out.append(table(["store, cache", "connects/s", "opened", "failures", "establish p50 ms",
                          "establish p99 ms", "CPU µs/connect", "PG round trips/connect", "loadgen CPU", "notes"],
                         rows))
        out.append("Each connect: a fresh pre-minted RS256 token with the API's claims (typ, jti, tenant_id, "
                   "hash_password), the user row and its password stamp, the membership, and "
                   "`SELECT 1 FROM scans WHERE id = … AND tenant_id = :tenant_id` (on PostgreSQL under the API's "
                   "row-level security, in one pipelined round trip). 100 users, 1,000 scans, 128 handshakes in "
                   "flight; Herald on one core, PostgreSQL on the load core. Round trips per connect come from "
                   "`herald_store_round_trips_total`; with the connect cache on, a caller and scan confirmed "
                   "within its TTL cost none.\n")

    # -------------------------------------------------------------------------------------- bus
    bus = by("bus")
    if bus:
        out.append("## bus — fanout with the events entering through Redis/Valkey pub/sub\n")
        rows = []
        for r in bus:
            inproc = get("fanout", r["server"], r["variant"])
            rows.append([r["server"], r["variant"], fmt(r.get("deliveries_per_s")),
                         ratio(r.get("deliveries_per_s"), inproc.get("deliveries_per_s")) if inproc else "–",
                         fmt(r.get("lost")), fmt(r.get("lat_p50_ms"), 2), fmt(r.get("lat_p99_ms"), 2),
                         fmt(r.get("cpu_us_per_delivery"), 2), flags(r)])
        out.append(table(["server", "rate", "deliveries/s", "÷ in-process", "lost", "p50 ms", "p99 ms",
                          "CPU µs/delivery", "notes"], rows))
        out.append("Herald: POST /publish on a Herald configured with the redis bus (the event goes out to Redis "
                   "and comes back through its subscription). nchan: `nchan_use_redis on`. Redis runs on the load core.\n")

    # ----------------------------------------------------------------------------------- replay
    rp = by("replay")
    if rp:
        out.append("## replay — reliable channels (Herald only)\n")
        rows = []
        for r in rp:
            plain = None
            if r["variant"].startswith("publish reliable"):
                plain = get("replay", "herald", r["variant"].replace("reliable", "plain", 1))
            rows.append([r["variant"], fmt(r.get("publishes_per_s") or r.get("resumes_per_s")),
                         ratio(r.get("publishes_per_s"), plain.get("publishes_per_s")) if plain else "–",
                         fmt(r.get("cpu_us_per_publish") or r.get("cpu_us_per_resume"), 2),
                         fmt(r.get("failures")), flags(r)])
        out.append(table(["run", "per second", "÷ plain", "server CPU µs each", "failures", "notes"], rows))
        out.append("Publish: herald-publisher flat out to 100 channels with no subscribers; `reliable` channels "
                   "are numbered and kept (in-process ring, or one Lua script doing HINCRBY + XADD MAXLEN ~ + "
                   "PUBLISH on Valkey). Target: reliable ≥ 50% of plain on the in-process bus. Resumes: 32 "
                   "clients (bench/lib/replay_client.py, Python asyncio) each reconnecting with a Last-Event-ID "
                   "100 events back and reading the replay, over and over.\n")

    # ---------------------------------------------------------------------------------- targets
    h = {k: v for k, v in best.items() if k[1] == "herald"}
    if h:
        out.append("## Herald against the performance targets\n")
        out.append("The floor column gives the same figure for the floor in the same conditions: where the floor "
                   "itself misses a target, the target is out of physical reach on this machine with that "
                   "write pattern.\n")
        rows = []

        def fl(sc, var, key, digits=1, unit=""):
            r = best.get((sc, "floor", var))
            if not r or r.get(key) is None:
                return "–"
            rt = rounds_text(r, key, digits)
            return fmt(r.get(key), digits, unit) + f" ({var}" + (f", {rt})" if rt else ")")

        def row(name, target, value, ok, floor="–"):
            rows.append([name, target, value, floor, "–" if ok is None else ("pass" if ok else "**FAIL**")])
        for var in ("N=10000", "N=18000"):
            r = best.get(("idle", "herald", var))
            if r:
                v = r.get("rss_kib_per_stream")
                row(f"RSS per idle stream ({var})", "≤ 2.5 KiB", fmt(v, 2, " KiB"),
                    v is not None and v <= 2.5 and not r.get("failures"), fl("idle", var, "rss_kib_per_stream", 2, " KiB"))
        r = best.get(("fanout", "herald", "20/s"))
        if r:
            c = r.get("cpu_us_per_delivery")
            same = best.get(("fanout", "floor", "20/s 1/write"))
            fs = same.get("cpu_us_per_delivery") if same else None
            row("fanout 20/s: lost", "0", fmt(r.get("lost")), r.get("lost") == 0, fl("fanout", "20/s 1/write", "lost"))
            row("fanout 20/s: p99", "≤ 20 ms", p99_text(r), (r.get("lat_target_p99_ms") or 1e9) <= 20,
                fl("fanout", "20/s 1/write", "lat_target_p99_ms", 2, " ms"))
            row("fanout 20/s: CPU/delivery ÷ floor 1/write (same rate)", "≤ 1.2×",
                f"{fmt(c, 2)} µs = {ratio(c, fs)}" + paren(rounds_text(r, "cpu_us_per_delivery")),
                (c / fs <= 1.2) if c and fs else None,
                fl("fanout", "20/s 1/write", "cpu_us_per_delivery", 2, " µs"))
        r = best.get(("fanout", "herald", "200/s"))
        if r:
            row("fanout 200/s: deliveries/s", "≥ 600,000", fmt(r.get("deliveries_per_s")),
                (r.get("deliveries_per_s") or 0) >= 600000, fl("fanout", "flat-out 10/write", "deliveries_per_s"))
            row("fanout 200/s: lost", "0", fmt(r.get("lost")), r.get("lost") == 0)
            row("fanout 200/s: p99", "≤ 100 ms", p99_text(r), (r.get("lat_target_p99_ms") or 1e9) <= 100,
                fl("fanout", "flat-out 10/write", "lat_target_p99_ms", 2, " ms"))
        r = best.get(("spread", "herald", "flat-out"))
        if r:
            row("spread: publishes/s (flat out)", "≥ 18,000", fmt(r.get("publishes_per_s")),
                (r.get("publishes_per_s") or 0) >= 18000, fl("spread", "flat-out 1/write", "publishes_per_s"))
        for (sc, srv, var), r in sorted(h.items()):
            if sc == "spread" and var != "flat-out":
                fvar = f"{var} 1/write"
                row(f"spread at {var}: accepted publishes/s", "≥ 18,000", fmt(r.get("publishes_per_s")),
                    (r.get("publishes_per_s") or 0) >= 18000 * 0.99, fl("spread", fvar, "publishes_per_s"))
                row(f"spread at {var}: lost", "0", fmt(r.get("lost")), r.get("lost") == 0, fl("spread", fvar, "lost"))
                hvar = f"{var} HTTP"
                both = " / ".join(x for x in (fl("spread", fvar, "lat_target_p99_ms", 2, " ms"),
                                              fl("spread", hvar, "lat_target_p99_ms", 2, " ms")) if x != "–") or "–"
                row(f"spread at {var}: p99", "≤ 5 ms", p99_text(r), (r.get("lat_target_p99_ms") or 1e9) <= 5,
                    both)
                fh = best.get(("spread", "floor", hvar))
                if fh and fh.get("cpu_us_per_publish") and r.get("cpu_us_per_publish"):
                    row(f"spread at {var}: CPU/publish ÷ HTTP floor", "–",
                        f"{fmt(r['cpu_us_per_publish'], 1)} µs = {ratio(r['cpu_us_per_publish'], fh['cpu_us_per_publish'])}"
                        + paren(rounds_text(r, "cpu_us_per_publish", 1)),
                        None, fl("spread", hvar, "cpu_us_per_publish", 1, " µs"))
        r = next((v for k, v in h.items() if k[0] == "connect"), None)
        if r:
            row("authenticated connects/s", "≥ 10,000",
                fmt(r.get("connects_per_s")) + paren(rounds_text(r, "connects_per_s", 0)),
                (r.get("connects_per_s") or 0) >= 10000 and not r.get("failures"),
                fl("connect", "no auth", "connects_per_s"))
        for (sc, srv, var), r in sorted(h.items()):
            if sc != "connect-pg" or r.get("store") != "postgres":
                continue
            on = bool(r.get("connect_cache_s"))
            target = 10000 if on else 2000
            row(f"PostgreSQL connects/s, connect cache {'on' if on else 'off'}", f"≥ {target:,}",
                fmt(r.get("connects_per_s")) + paren(rounds_text(r, "connects_per_s", 0)),
                (r.get("connects_per_s") or 0) >= target and not r.get("failures"))
            if not on:
                row("PostgreSQL round trips per connect (cache off)", "1",
                    fmt(r.get("pg_round_trips_per_connect"), 3),
                    r.get("pg_round_trips_per_connect") is not None and r["pg_round_trips_per_connect"] <= 1.0)
        for rate in ("20/s", "200/s"):
            b, f = best.get(("bus", "herald", rate)), best.get(("fanout", "herald", rate))
            if b and f and f.get("deliveries_per_s"):
                q = b.get("deliveries_per_s", 0) / f["deliveries_per_s"]
                row(f"bus {rate}: deliveries ÷ in-process", "≥ 80%", f"{q:.0%} (p99 {fmt(b.get('lat_p99_ms'), 1)} ms)",
                    q >= 0.8 and b.get("lost") == 0)
        out.append(table(["figure", "target", "Herald", "floor, same conditions", ""], rows))

    notes = [r["note"] for r in recs if r.get("scenario") == "note"]
    if notes:
        out.append("## Notes from the runs\n")
        for n in dict.fromkeys(notes):
            out.append(f"- {n}")
        out.append("")
    plots = [p.name for p in sorted(results_dir.glob("*.png"))]
    if plots:
        out.append("## Plots\n")
        for p in plots:
            out.append(f"![{p}]({p})\n")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ compact table
def compact(results_dir: Path) -> str:
    """The headline figures, one row each: Herald | nchan | floor and the ratios."""
    recs, m = load(results_dir)
    best = with_rounds(recs, latest(recs))
    rows = []

    def cell(sc, srv, var, key, digits=1):
        r = best.get((sc, srv, var))
        if not r or r.get(key) is None:
            return None, "–"
        v = r[key]
        mark = "*" if r.get("contended") or r.get("load_bound") or r.get("quick") else ""
        return v, fmt(v, digits) + mark

    specs = [
        ("idle N=10,000: RSS KiB/stream", "idle", "N=10000", "N=10000", "rss_kib_per_stream", 2, False),
        ("idle N=18,000: RSS KiB/stream", "idle", "N=18000", "N=18000", "rss_kib_per_stream", 2, False),
        ("idle N=18,000: establish p99 ms", "idle", "N=18000", "N=18000", "est_p99_ms", 1, False),
        ("fanout 20/s: deliveries/s", "fanout", "20/s", "20/s 1/write", "deliveries_per_s", 0, True),
        ("fanout 20/s: p99 ms (socket, after warm-up)", "fanout", "20/s", "20/s 1/write", "lat_target_p99_ms", 2,
         False),
        ("fanout 20/s: CPU µs/delivery", "fanout", "20/s", "20/s 1/write", "cpu_us_per_delivery", 2, False),
        ("fanout 200/s: deliveries/s", "fanout", "200/s", "flat-out 10/write", "deliveries_per_s", 0, True),
        ("fanout 200/s: p99 ms (socket, after warm-up)", "fanout", "200/s", "flat-out 10/write", "lat_target_p99_ms",
         1, False),
        ("fanout 200/s: CPU µs/delivery", "fanout", "200/s", "flat-out 10/write", "cpu_us_per_delivery", 2, False),
        ("spread flat out: publishes/s", "spread", "flat-out", "flat-out 1/write", "publishes_per_s", 0, True),
        ("spread flat out: CPU µs/publish", "spread", "flat-out", "flat-out 1/write", "cpu_us_per_publish", 1, False),
        ("spread at 18,000/s: publishes/s", "spread", "18000/s", "18000/s 1/write", "publishes_per_s", 0, True),
        ("spread at 18,000/s: p99 ms (socket, after warm-up)", "spread", "18000/s", "18000/s 1/write",
         "lat_target_p99_ms", 2, False),
        ("spread at 18,000/s: p99 ms (socket, after warm-up; HTTP floor)", "spread", "18000/s", "18000/s HTTP",
         "lat_target_p99_ms", 2, False),
        ("spread at 18,000/s: p99 ms (as read, after warm-up; HTTP floor)", "spread", "18000/s", "18000/s HTTP",
         "lat_steady_p99_ms", 2, False),
        ("spread at 18,000/s: p99 ms (as read, whole run; HTTP floor)", "spread", "18000/s", "18000/s HTTP",
         "lat_p99_ms", 2, False),
        ("spread at 18,000/s: CPU µs/publish (HTTP floor)", "spread", "18000/s", "18000/s HTTP",
         "cpu_us_per_publish", 1, False),
        ("connect: connects/s (Herald RS256; others no auth)", "connect", None, "no auth", "connects_per_s", 0, True),
        ("bus 20/s: deliveries/s", "bus", "20/s", None, "deliveries_per_s", 0, True),
        ("bus 200/s: deliveries/s", "bus", "200/s", None, "deliveries_per_s", 0, True),
    ]
    for label, sc, var, fvar, key, digits, higher_better in specs:
        hv, hs = cell(sc, "herald", var if var else "RS256 JWT + membership", key, digits)
        nv, ns = cell(sc, "nchan", var if var else "no auth", key, digits)
        fv, fs = cell(sc, "floor", fvar, key, digits) if fvar else (None, "–")
        if hv is None and nv is None and fv is None:
            continue
        rows.append([label, hs, ns, fs, ratio(hv, nv), ratio(hv, fv)])
    if not rows:
        return "(no results yet)\n"
    note = (f"Machine: {m.get('cpu_model', '?')} × {m.get('nproc', '?')}, {m.get('kernel', '?')}; "
            f"results of {results_dir.name} ([summary](results/{results_dir.name}/summary.md)). "
            "Floor column: the floor in the same conditions (one event per write at the same rate; at 200/s its "
            "flat-out ten-events-per-write run, the coalescing ceiling). Herald's and the floor's fixed-rate "
            "fanout/spread and connect figures are medians of the invocation's rounds (each round in the summary's "
            "targets table). `*` = flagged run (contended machine, saturated load core, or --quick; for a median, "
            "any of its rounds).\n\n")
    return note + table(["figure", "Herald", "nchan", "floor", "Herald ÷ nchan", "Herald ÷ floor"], rows)


def update_readme(results_dir: Path) -> None:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    if not readme.exists() or results_dir.resolve().parent != (readme.parent / "results").resolve():
        return
    text = readme.read_text()
    b, e = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"
    if b not in text or e not in text:
        return
    head, rest = text.split(b, 1)
    _, tail = rest.split(e, 1)
    readme.write_text(head + b + "\n" + compact(results_dir) + e + tail)


# ------------------------------------------------------------------------------------------- plots
def plots(results_dir: Path) -> None:
    if not shutil.which("gnuplot"):
        print("report: gnuplot not installed; no plots", file=sys.stderr)
        return
    recs, _ = load(results_dir)
    best = latest(recs)  # the histograms of the last round
    import tempfile
    data = Path(tempfile.mkdtemp(prefix="herald-bench-plots-"))

    # Latency percentile spectrum (HDR style): x = 1/(1-q), log scale; one line per run.
    series = []
    for (sc, srv, var), r in sorted(best.items(), key=lambda kv: (kv[0][0], SERVER_ORDER.get(kv[0][1], 9), kv[0][2])):
        if sc not in ("fanout", "spread", "bus"):
            continue
        hist = (r.get("loadgen") or {}).get("latency_hist_ns")
        if not hist:
            continue
        total = sum(c for _, c in hist)
        if total == 0:
            continue
        name = f"{sc}-{srv}-{var}".replace(" ", "_").replace("/", "per")
        f = data / f"lat-{name}.dat"
        acc = 0
        lines = []
        for idx, c in sorted(hist):
            acc += c
            q = acc / total
            x = 1.0 / (1.0 - q) if q < 1 else 1e6
            lines.append(f"{min(x, 1e6):.6g} {bucket_value(idx) / 1e6:.6g}")
        f.write_text("\n".join(lines) + "\n")
        series.append((sc, f"{sc} {srv} {var}", f))
    for sc in ("fanout", "spread", "bus"):
        ss = [s for s in series if s[0] == sc]
        if not ss:
            continue
        colors = {"herald": ["#d62728", "#ff7f0e", "#e377c2"], "nchan": ["#1f77b4", "#17becf", "#9467bd"],
                  "floor": ["#2ca02c", "#7f7f7f", "#bcbd22", "#8c564b"]}
        used: dict = {}
        parts = []
        for _, t, f in ss:
            srv = t.split()[1]
            i = used.get(srv, 0)
            used[srv] = i + 1
            pal = colors.get(srv, ["#000000"])
            dt = "dt 2" if srv == "floor" else ("dt 4" if srv == "nchan" else "dt 1")
            parts.append(f"'{f}' using 1:2 with steps lw 2 {dt} lc rgb '{pal[i % len(pal)]}' "
                         f"title '{t.split(' ', 1)[1]}'")
        plot = ", ".join(parts)
        gp = f"""set terminal pngcairo size 1100,600 font 'Sans,10'
set output '{results_dir / f'latency-{sc}.png'}'
set title 'Publish-to-receive latency by percentile — {sc} ({results_dir.name})'
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'latency (ms)'
set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
set xrange [1:200000]
set yrange [0.1:*]
set grid
set key outside right top
plot {plot}
"""
        subprocess.run(["gnuplot"], input=gp, text=True, check=False)

    # Memory per stream vs N.
    mem = {}
    for (sc, srv, var), r in best.items():
        if sc == "idle" and r.get("rss_kib_per_stream") is not None:
            mem.setdefault(srv, []).append((r["n"], r["rss_kib_per_stream"]))
    if mem:
        parts = []
        for srv in sorted(mem, key=lambda s: SERVER_ORDER.get(s, 9)):
            f = data / f"mem-{srv}.dat"
            f.write_text("\n".join(f"{n} {v}" for n, v in sorted(mem[srv])) + "\n")
            parts.append(f"'{f}' using 1:2 with linespoints lw 2 pt 7 title '{srv}'")
        gp = f"""set terminal pngcairo size 900,550 font 'Sans,10'
set output '{results_dir / 'memory-per-stream.png'}'
set title 'Server RSS per idle stream vs N ({results_dir.name})'
set xlabel 'open streams (N)'
set ylabel 'KiB per stream'
set yrange [0:{max(3.0, max(v for pts in mem.values() for _, v in pts)) * 1.15:.2f}]
set xrange [0:{max(n for pts in mem.values() for n, _ in pts) * 1.1:.0f}]
set grid
set key top left
plot {', '.join(parts)}, 2.5 with lines dt 2 lc rgb '#888888' title 'Herald target 2.5 KiB'
"""
        subprocess.run(["gnuplot"], input=gp, text=True, check=False)

    # Deliveries/s in fanout per server and rate.
    fo = [r for (sc, _, _), r in best.items() if sc == "fanout" and r.get("deliveries_per_s")]
    if fo:
        fo = order(fo)
        f = data / "fanout-throughput.dat"
        f.write_text("\n".join(f"\"{r['server']}\\n{r['variant']}\" {r['deliveries_per_s']}" for r in fo) + "\n")
        gp = f"""set terminal pngcairo size 1000,550 font 'Sans,10'
set output '{results_dir / 'fanout-throughput.png'}'
set title 'fanout: deliveries per second, server on one core ({results_dir.name})'
set style data histograms
set style fill solid 0.7
set boxwidth 0.8
set ylabel 'deliveries/s'
set yrange [0:*]
set grid ytics
set xtics rotate by 0 font ',8'
plot '{f}' using 2:xtic(1) notitle
"""
        subprocess.run(["gnuplot"], input=gp, text=True, check=False)
    shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if d is None:
        dirs = sorted(p for p in (Path(__file__).resolve().parent.parent / "results").glob("*")
                      if p.is_dir() and p.name != "archive")
        if not dirs:
            sys.exit("no results")
        d = dirs[-1]
    plots(d)
    (d / "summary.md").write_text(summary(d))
    update_readme(d)
    print(f"report: {d / 'summary.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
