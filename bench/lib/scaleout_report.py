#!/usr/bin/env python3
"""Turns bench/results/<date>/scaleout/results.jsonl into summary.md (the scale-out benchmark).

    python3 bench/lib/scaleout_report.py bench/results/<date>/scaleout

As bench/lib/report.py: for each (scenario, variant) the latest full run (a --quick run only when no
full run exists, and then marked); with --rounds, the median of that invocation's rounds. `units()`
gives the per-unit costs the capacity model (bench/lib/capacity_model.py, docs/scaling.md) is built
from, each with the results line it comes from. Python 3 standard library only.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
import report as R  # noqa: E402  (fmt, table, ratio, median, with_rounds)

CONFIG_ORDER = ["inproc-1", "classic-1", "sharded-1", "classic-3", "sharded-3", "broadcast-3"]
CONFIG_TEXT = {
    "inproc-1": "1 node, in-process bus",
    "classic-1": "1 node, one Valkey (PUBLISH/SUBSCRIBE)",
    "sharded-1": "1 node, 3-master Cluster (SPUBLISH/SSUBSCRIBE)",
    "classic-3": "3 nodes, one Valkey",
    "sharded-3": "3 nodes, 3-master Cluster (sharded)",
    "broadcast-3": "3 nodes, classic PUBLISH on the 3-master Cluster",
}


def load(results_dir: Path) -> tuple[list[dict], dict]:
    """Records with `_line` (their line number in results.jsonl, for citations)."""
    import json
    recs = []
    f = results_dir / "results.jsonl"
    if f.exists():
        for i, line in enumerate(f.read_text().splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            r["_line"] = i
            recs.append(r)
    for r in recs:
        r["lat_target_p99_ms"] = r.get("lat_arrival_steady_p99_ms", r.get("lat_steady_p99_ms", r.get("lat_p99_ms")))
        if r.get("per_node") and r.get("bus_messages_out") is None:   # runs recorded before these fields
            r["bus_messages_out"] = sum(p.get("bus_messages_received") or 0 for p in r["per_node"])
        if r.get("valkey") and r.get("bus_messages_out") and r.get("publishes"):
            r.setdefault("subscriber_messages_per_publish", round(r["bus_messages_out"] / r["publishes"], 3))
            r.setdefault("valkey_out_bytes_per_message", round(r["valkey"]["net_out"] / r["bus_messages_out"], 1))
    m = {}
    mf = results_dir / "machine.json"
    if mf.exists():
        m = json.loads(mf.read_text())
    return recs, m


def best_of(recs: list[dict]) -> dict:
    """(scenario, variant) -> the record shown (median of rounds when there were several)."""
    keyed = [dict(r, server="herald") for r in recs]
    best = R.with_rounds(keyed, R.latest(keyed))
    return {(k[0], k[2]): v for k, v in best.items()}


def cite(results_dir: Path, r: dict | None, field: str) -> str:
    if not r:
        return "–"
    rel = results_dir
    try:
        rel = results_dir.resolve().relative_to(Path(__file__).resolve().parent.parent.parent)
    except ValueError:
        pass
    lines = r.get("_lines") or [r.get("_line")]
    where = ",".join(str(x) for x in lines if x)
    return f"`{rel}/results.jsonl:{where}` `{field}`"


def pick(best: dict, scenario: str, config: str, variant: str = "") -> dict | None:
    return best.get((scenario, f"{config} {variant}".strip()))


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """y = a + b·x by least squares; b clamped at 0 (noise: no measurable cost per extra x)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 1e-9 else 0.0
    if b < 0:
        b = 0.0
    a = my - b * mx
    if a < 0:
        a, b = 0.0, my / mx
    return a, b


def nodes_cpu(r: dict) -> list[float]:
    return [p.get("cpu_s", 0.0) for p in (r.get("per_node") or [])]


# ------------------------------------------------------------------------------- per-unit costs
def units(results_dir: Path) -> dict:
    """The measured per-unit costs, each {value, unit, what, source}; missing ones are absent.
    Bus figures prefer the three-node runs (what a fleet looks like), else the one-node runs."""
    recs, _ = load(results_dir)
    best = best_of(recs)
    u: dict = {}

    def put(key, value, unit, what, r, field):
        if value is None or r is None:
            return
        u[key] = dict(value=value, unit=unit, what=what, source=cite(results_dir, r, field),
                      quick=bool(r.get("quick")), flagged=bool(r.get("contended") or r.get("load_bound")))

    for cfg in ("classic-3", "sharded-3", "classic-1", "sharded-1", "inproc-1"):
        r = pick(best, "idle", cfg)
        if r and r.get("rss_kib_per_stream") is not None and "node_rss_kib_per_stream" not in u:
            put("node_rss_kib_per_stream", r["rss_kib_per_stream"], "KiB", "node RSS per open stream (idle, "
                "one channel per stream, bus subscribed)", r, "rss_kib_per_stream")
            put("kernel_tcp_kib_per_stream", r.get("kernel_tcp_kib_per_stream"), "KiB",
                "kernel TCP memory per stream, both ends on loopback (/proc/net/sockstat)", r,
                "kernel_tcp_kib_per_stream")
            put("slab_kib_per_stream", r.get("slab_kib_per_stream"), "KiB",
                "kernel slab memory per stream, both ends on loopback (/proc/meminfo Slab; machine-wide)", r,
                "slab_kib_per_stream")
            put("establish_p99_ms", r.get("est_p99_ms"), "ms", "stream establishment p99 (stream-open waits "
                "for the bus subscription)", r, "est_p99_ms")
        vi = (r or {}).get("valkey_idle") or {}
        if r and vi.get("bytes_per_subscription") and "valkey_bytes_per_subscription" not in u:
            put("valkey_bytes_per_subscription", vi["bytes_per_subscription"], "B",
                "Valkey used_memory per channel subscription", r, "valkey_idle.bytes_per_subscription")
    r = pick(best, "idle", "inproc-1")
    if r:
        put("inproc_rss_kib_per_stream", r.get("rss_kib_per_stream"), "KiB", "node RSS per stream, in-process bus",
            r, "rss_kib_per_stream")

    for cfg in ("classic-3", "sharded-3", "classic-1", "sharded-1"):
        r = pick(best, "fanout", cfg, "fixed")
        if r and r.get("cpu_us_per_delivery") and "node_cpu_us_per_delivery_fanout" not in u:
            put("node_cpu_us_per_delivery_fanout", r["cpu_us_per_delivery"], "µs",
                f"node CPU per delivery, one hot channel ({cfg}, server core incl. ksoftirqd)", r,
                "cpu_us_per_delivery")
        r = pick(best, "spread", cfg, "fixed")
        if r and r.get("cpu_us_per_delivery") and "node_cpu_us_per_delivery_spread" not in u:
            put("node_cpu_us_per_delivery_spread", r["cpu_us_per_delivery"], "µs",
                f"node CPU per delivery, 1,000 channels, one POST per event ({cfg})", r, "cpu_us_per_delivery")
            per = r.get("per_node") or []
            if len(per) >= 2 and r.get("publish_via") == "first" and r.get("publishes"):
                # Node 0 took every POST /publish; the others only receive and deliver.
                others = [p for p in per[1:] if p.get("events_delivered")]
                if others and per[0].get("events_delivered"):
                    recv = sum(p["cpu_s"] for p in others) / sum(p["events_delivered"] for p in others)
                    extra = per[0]["cpu_s"] - recv * per[0]["events_delivered"]
                    put("node_cpu_us_per_http_publish", round(extra * 1e6 / r["publishes"], 2), "µs",
                        f"node CPU per POST /publish handled (node 0's CPU beyond the receive-and-deliver cost "
                        f"of nodes 1–2, per publish; {cfg})", r, "per_node[].cpu_s")
        r = pick(best, "resource", cfg)
        if r and r.get("cpu_us_per_delivery") and "node_cpu_us_per_message" not in u:
            put("node_cpu_us_per_message", r["cpu_us_per_delivery"], "µs",
                f"node CPU per bus message carrying one delivery (per-resource channels; {cfg}): the bus read "
                f"loop plus one write", r, "cpu_us_per_delivery")
            bus_threads = []
            for p in r.get("per_node") or []:
                t = p.get("threads_cpu_s") or {}
                b = sum(v for k, v in t.items() if "bus" in k)
                if b and p.get("bus_messages_received"):
                    bus_threads.append(b / p["bus_messages_received"])
            if bus_threads:
                put("bus_thread_cpu_us_per_message", round(sum(bus_threads) / len(bus_threads) * 1e6, 3), "µs",
                    "the bus thread's CPU per message received (thread `herald-bus`)", r, "per_node[].threads_cpu_s")
            mpr = [p.get("messages_per_read") for p in r.get("per_node") or [] if p.get("messages_per_read")]
            if mpr:
                put("messages_per_read", round(sum(mpr) / len(mpr), 2), "", "bus messages per subscriber read", r,
                    "per_node[].messages_per_read")

    r0 = pick(best, "spread", "inproc-1", "flat-out")
    if r0:
        put("inproc_spread_deliveries_per_core_s", r0.get("server_core_deliveries_per_cpu_s"), "/s",
            "deliveries per second of server-core CPU, spread flat out, in-process bus", r0,
            "server_core_deliveries_per_cpu_s")

    # Valkey: CPU per publish = a + b × (subscriber messages per publish), fitted (least squares) over the
    # spread runs of each kind, one and three nodes: the same publish path (Herald's PUBLISH + fence PING),
    # 1 to 3 subscriber connections per message. Flat out (Valkey busy, batching: what it costs near
    # capacity, which the model uses) and at the fixed rate (moderate load: wake-ups, for reference).
    for kind in ("classic", "sharded"):
        for flat, suffix, regime in ((True, "", "flat out"), (False, "_moderate", "fixed rate")):
            # Only the configurations that differ in Valkey's work (1 or 3 nodes): variants of the node
            # itself (classic-1-own) would weigh one point twice.
            pts = [r for (sc, _), r in best.items() if sc == "spread" and r.get("bus") == kind and r.get("publishes")
                   and r.get("config") in (f"{kind}-1", f"{kind}-3")
                   and (r.get("rate") == 0) == flat and r.get("valkey_cpu_us_per_publish") is not None
                   and r.get("subscriber_messages_per_publish")]
            if not pts:
                continue
            a_, b = fit([r["subscriber_messages_per_publish"] for r in pts],
                        [r["valkey_cpu_us_per_publish"] for r in pts])
            src = dict(pts[-1], _lines=sorted(r.get("_line") for r in pts))
            how = (f" ({regime}; least squares over {len(pts)} runs: " +
                   ", ".join(f"{r['subscriber_messages_per_publish']:.2f} messages → "
                             f"{r['valkey_cpu_us_per_publish']:.1f} µs" for r in pts) + ")")
            put(f"valkey_{kind}_cpu_us_per_publish{suffix}", round(a_, 3), "µs",
                f"Valkey CPU per publish, before fan-out ({kind})" + how, src, "valkey_cpu_us_per_publish")
            put(f"valkey_{kind}_cpu_us_per_subscriber_message{suffix}", round(b, 3), "µs",
                f"Valkey CPU per message written to one subscriber connection ({kind}, {regime})", src,
                "subscriber_messages_per_publish")
            if flat:
                put(f"valkey_{kind}_in_bytes_per_publish",
                    round(sum(r["valkey_in_bytes_per_publish"] for r in pts) / len(pts), 1), "B",
                    f"bytes into Valkey per publish (the {'SPUBLISH' if kind == 'sharded' else 'PUBLISH'} command "
                    "and the fence PINGs' share, RESP)", src, "valkey_in_bytes_per_publish")
                outb = sum(r["valkey"]["net_out"] for r in pts) / sum(r["bus_messages_out"] for r in pts)
                put(f"valkey_{kind}_out_bytes_per_subscriber_message", round(outb, 1), "B",
                    "bytes out of Valkey per message per subscriber connection (RESP; replies and PONGs included)",
                    src, "valkey_out_bytes_per_message")
    r = pick(best, "spread", "broadcast-3", "fixed")
    if r and r.get("valkey_cpu_us_per_publish") is not None:
        put("valkey_broadcast_cpu_us_per_publish", r["valkey_cpu_us_per_publish"], "µs",
            "Valkey CPU per classic PUBLISH in a 3-master cluster, all masters together (3 subscriber "
            "connections on the one master the nodes use)", r, "valkey_cpu_us_per_publish")
        put("valkey_broadcast_link_bytes_per_publish", r.get("valkey_link_bytes_per_publish"), "B",
            "cluster-bus bytes per classic PUBLISH in a 3-master cluster", r, "valkey_link_bytes_per_publish")
    return u


# ------------------------------------------------------------------------------------- summary
def flags(r: dict) -> str:
    out = []
    if r.get("error"):
        out.append("ERROR: " + r["error"][:120])
    if r.get("quick"):
        out.append("SMOKE")
    if r.get("rounds"):
        out.append(f"median of {r['rounds']} rounds")
    w = r.get("window") or {}
    if r.get("contended"):
        out.append(f"contended ({w.get('server_core_other', 0):.0%} of the server core used by others)")
    if r.get("load_bound"):
        out.append("load core saturated")
    if r.get("failures"):
        out.append(f"{r['failures']} stream failures")
    return "; ".join(out)


def order(rs):
    return sorted(rs, key=lambda r: (CONFIG_ORDER.index(r["config"]) if r.get("config") in CONFIG_ORDER else 9,
                                     r.get("variant", "")))


def summary(results_dir: Path) -> str:
    recs, m = load(results_dir)
    best = best_of(recs)
    F, T = R.fmt, R.table
    smoke = any(r.get("quick") for r in best.values())
    out = [f"# Herald scale-out benchmark — {results_dir.parent.name}/{results_dir.name}\n"]
    if smoke:
        out.append("> **SMOKE RUN — not evidence.** Made with `--quick` (4-second runs) and/or fewer streams per node, "
                   "on a machine other engineers were compiling on. It shows that the tooling works end to end; "
                   "its figures are placeholders until the full run on a quiet machine.\n")
    out.append("Generated by `bench/lib/scaleout_report.py` from `results.jsonl`. Method: `bench/README.md`, "
               "\"Scale-out\". Valkey is not packaged in Debian 12: `redis-server` 7 (same protocol, sharded "
               "pub/sub since 7.0) stands in for it.\n")
    cmd = results_dir / "command.txt"
    if cmd.exists():
        out.append("Made by:\n\n```\n" + cmd.read_text().strip() + "\n```\n")
    if m:
        out.append(T(["fact", "value"], [
            ["CPU", f"{m.get('cpu_model')} × {m.get('nproc')} ({m.get('hypervisor') or 'bare metal'})"],
            ["kernel", m.get("kernel", "")], ["open files (hard cap)", str(m.get("nofile_hard"))],
            ["pinning", f"every Herald node on CPU {m.get('server_cpu')}; loadgen, publisher and every redis-server "
                        f"on CPU {m.get('load_cpu')}"],
            ["Redis", f"{m.get('redis', '')} ({m.get('redis_cli', '')})"],
            ["Herald", f"{m.get('herald_binary')} ({m.get('herald_build_type') or '?'} build; git {m.get('git')}"
                       f"{', src/ modified' if m.get('git_dirty') else ''})"], ["date", m.get("date", "")]]))

    # ------------------------------------------------------------------------------ targets
    rows = []
    for kind in ("classic", "sharded"):
        b, i = pick(best, "spread", f"{kind}-1", "flat-out"), pick(best, "spread", "inproc-1", "flat-out")
        if b and i and i.get("deliveries_per_s"):
            q = (b.get("deliveries_per_s") or 0) / i["deliveries_per_s"]
            rows.append([f"spread flat out, 1 node, {kind}: deliveries/s ÷ in-process", "≥ 85%",
                         f"{F(b.get('deliveries_per_s'))} ÷ {F(i.get('deliveries_per_s'))} = {q:.0%}"
                         + R.paren("; ".join(t for t in (R.rounds_text(b, "deliveries_per_s", 0),
                                                         R.rounds_text(i, "deliveries_per_s", 0)) if t)),
                         "pass" if q >= 0.85 else "**miss**"])
        b, i = pick(best, "spread", f"{kind}-1", "fixed"), pick(best, "spread", "inproc-1", "fixed")
        if b and i and b.get("lat_target_p99_ms") is not None and i.get("lat_target_p99_ms") is not None:
            d = b["lat_target_p99_ms"] - i["lat_target_p99_ms"]
            rows.append([f"spread at {F(b.get('offered_deliveries_per_s'))} deliveries/s, 1 node, {kind}: "
                         "p99 − in-process (socket, after warm-up)", "≤ 2 ms",
                         f"{F(b['lat_target_p99_ms'], 2)} − {F(i['lat_target_p99_ms'], 2)} = {d:+.2f} ms"
                         + R.paren("; ".join(t for t in (R.rounds_text(b, "lat_target_p99_ms"),
                                                         R.rounds_text(i, "lat_target_p99_ms")) if t)),
                         "pass" if d <= 2 else "**miss**"])
    for kind in ("classic", "sharded"):
        one, three = pick(best, "spread", f"{kind}-1", "flat-out"), pick(best, "spread", f"{kind}-3", "flat-out")
        if one and three and one.get("deliveries_per_s"):
            q = (three.get("deliveries_per_s") or 0) / one["deliveries_per_s"]
            e1, e3 = one.get("server_core_deliveries_per_cpu_s"), three.get("server_core_deliveries_per_cpu_s")
            eff = (e3 / e1) if e1 and e3 else None
            rows.append([f"spread flat out, {kind}: 3 nodes ÷ 1 node, total deliveries/s", "≥ 2.5× when CPU allows",
                         f"{q:.2f}× measured (the three nodes share one core here); per core-second of node CPU: "
                         f"{F(e3)} vs {F(e1)} deliveries = {eff:.0%} efficiency → "
                         f"{3 * eff:.2f}× with a core per node" if eff else f"{q:.2f}×",
                         "– (2 cores)" if eff is None else
                         ("pass (projected)" if 3 * eff >= 2.5 else "**miss** (projected)")])
    if rows:
        out.append("## Targets (issue 19; benchmarks, not tests)\n")
        out.append(T(["figure", "target", "measured", ""], rows))
        out.append("With two cores, the three nodes share the server core: their total cannot exceed one node's. "
                   "\"Per core-second\" divides deliveries by the nodes' CPU (server core incl. ksoftirqd), so "
                   "3 × efficiency is the ratio with a free core per node, provided Valkey (below) keeps up.\n")

    # ------------------------------------------------------------------------------ Valkey
    vrows = []
    for r in order([r for (s, _), r in best.items() if s in ("spread", "resource", "fanout") and r.get("valkey")]):
        v = r["valkey"]
        calls = {}
        for ps in v.get("per_server") or []:
            for k, n in (ps.get("calls") or {}).items():
                calls[k] = calls.get(k, 0) + n
        top = ", ".join(f"{k} {n:,}" for k, n in sorted(calls.items(), key=lambda kv: -kv[1])[:4])
        vrows.append([r["scenario"], r["variant"], F(r.get("publishes")), F(r.get("valkey_cpu_us_per_publish"), 2),
                      F(r.get("valkey_in_bytes_per_publish")), F(r.get("valkey_out_bytes_per_publish")),
                      F(r.get("valkey_link_bytes_per_publish")),
                      " / ".join(F(ps.get("cpu_s"), 2) for ps in v.get("per_server") or []), top])
    if vrows:
        out.append("## Valkey cost per published event: classic vs sharded\n")
        out.append("CPU = every redis-server's utime+stime (/proc) over the window ÷ publishes; on loopback it "
                   "includes the kernel's receive half of what Valkey writes to the nodes. Bytes = RESP payload "
                   "(`INFO stats` total_net_input/output_bytes; TCP/IP headers not counted); cluster-bus bytes from "
                   "`ss -ti` on the bus ports.\n")
        out.append(T(["scenario", "config", "publishes", "CPU µs/publish", "bytes in/publish", "bytes out/publish",
                      "cluster-bus bytes/publish", "CPU s per server", "commands"], vrows))

    # ------------------------------------------------------------------------------ deliveries
    for sc, title in (("spread", "spread — 1,000 channels, one event per POST /publish"),
                      ("fanout", "fanout — one hot channel"),
                      ("resource", "resource — one channel per stream, events straight into Valkey")):
        rs = order([r for (s, _), r in best.items() if s == sc])
        if not rs:
            continue
        out.append(f"## {title}\n")
        rows = []
        for r in rs:
            w = r.get("window") or {}
            rows.append([r["variant"], F(r.get("n")), F(r.get("channels")), F(r.get("rate")),
                         F(r.get("offered_deliveries_per_s")), F(r.get("publishes_per_s")),
                         F(r.get("deliveries_per_s")),
                         F(r.get("lost")), F(r.get("lat_p50_ms"), 2), F(r.get("lat_target_p99_ms"), 2),
                         F(r.get("lat_steady_p99_ms"), 2), F(r.get("cpu_us_per_delivery"), 2),
                         F(r.get("server_core_deliveries_per_cpu_s")), F(w.get("server_core_busy", 0) * 100, 0, "%"),
                         F(w.get("load_core_busy", 0) * 100, 0, "%"), flags(r)])
        out.append(R.table(["config", "streams", "channels", "rate/s", "offered deliveries/s", "publishes/s",
                            "deliveries/s", "lost", "p50 ms", "p99 ms (socket, after warm-up)", "p99 ms as read",
                            "node CPU µs/delivery", "deliveries per node-CPU s", "server core busy",
                            "load core busy", "notes"], rows))
        prow = []
        for r in rs:
            for p in r.get("per_node") or []:
                prow.append([r["variant"], str(p.get("node")), F(p.get("connections")), F(p.get("cpu_s"), 2),
                             F(p.get("events_delivered")), F(p.get("cpu_us_per_delivery"), 2),
                             F(p.get("bus_messages_received")), F(p.get("cpu_us_per_message"), 2),
                             F(p.get("messages_per_read")), F(p.get("bus_bytes_per_message")),
                             F(p.get("bus_publishes")), F(p.get("bus_publish_fences")),
                             F(p.get("bus_subscribed_channels")), F(p.get("bus_subscriber_connections"))])
        if prow:
            out.append("Per node (from each node's `/metrics` and `/proc`):\n")
            out.append(R.table(["config", "node", "streams", "CPU s", "deliveries", "CPU µs/delivery",
                                "bus messages", "CPU µs/message", "messages/read", "bus bytes/message",
                                "publishes", "fences (PINGs)", "subscribed channels", "subscriber conns"], prow))

    # ------------------------------------------------------------------------------ idle
    rs = order([r for (s, _), r in best.items() if s == "idle"])
    if rs:
        out.append("## idle — one channel per stream, no events\n")
        rows = []
        for r in rs:
            per = r.get("nodes_idle") or []
            vi = r.get("valkey_idle") or {}
            rows.append([r["variant"], F(r.get("n")), F(r.get("opened")), F(r.get("failures")),
                         F(r.get("rss_kib_per_stream"), 2),
                         " / ".join(F(p.get("rss_kib_per_stream"), 2) for p in per),
                         " / ".join(F(p.get("streams")) for p in per), F(r.get("open_s"), 1),
                         F(r.get("opens_per_s")),
                         F(r.get("est_p50_ms"), 2), F(r.get("est_p99_ms"), 2),
                         F(vi.get("subscriptions")), F(vi.get("bytes_per_subscription")), flags(r)])
        out.append(R.table(["config", "streams", "opened", "failures", "RSS KiB/stream", "per node",
                            "streams per node", "open s", "opens/s", "establish p50 ms", "establish p99 ms",
                            "Valkey subscriptions", "Valkey bytes/subscription", "notes"], rows))

    # ------------------------------------------------------------------------------ units
    u = units(results_dir)
    if u:
        out.append("## Per-unit costs (the capacity model's inputs)\n")
        out.append("`bench/lib/capacity_model.py` builds docs/scaling.md's tables from these.\n")
        out.append(R.table(["unit", "value", "what", "source"],
                           [[k, F(v["value"], 2) + (f" {v['unit']}" if v["unit"] else "") +
                             (" (smoke)" if v["quick"] else "") + (" (flagged)" if v["flagged"] else ""),
                             v["what"], v["source"]] for k, v in u.items()]))
    errs = [r for r in recs if r.get("error")]
    if errs:
        out.append("## Failed runs\n")
        for r in errs:
            out.append(f"- line {r['_line']}: {r.get('scenario')} {r.get('variant')}: {r['error'][:300]}")
        out.append("")
    return "\n".join(out) + "\n"


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if d is None:
        sys.exit("usage: scaleout_report.py bench/results/<date>/scaleout")
    (d / "summary.md").write_text(summary(d))
    print(f"report: {d / 'summary.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
