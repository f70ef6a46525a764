#!/usr/bin/env python3
"""The capacity model of docs/scaling.md, computed from the scale-out benchmark's per-unit costs.

    python3 bench/lib/capacity_model.py [bench/results/<date>/scaleout] [--print]

Reads the measured per-unit costs (bench/lib/scaleout_report.py units(): each with the results.jsonl
line it comes from), combines them with the stated assumptions below, and rewrites the generated part
of docs/scaling.md (between <!-- MODEL:BEGIN --> and <!-- MODEL:END -->). Every number in those
tables is either a measured unit (cited), an assumption (listed), or arithmetic on them (the formulas
are in docs/scaling.md and below). Python 3 standard library only.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
import report as R  # noqa: E402
import scaleout_report as S  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "scaling.md"
BEGIN, END = "<!-- MODEL:BEGIN -->", "<!-- MODEL:END -->"

# Stated assumptions: (value, unit, why). Change them here; the tables follow.
ASSUMPTIONS = {
    "streams_per_node": (19000, "streams", "one node = one `herald serve` process; 20,000 open files per process on "
                         "this machine, less the listener's spare descriptors, bus and store connections"),
    "memory_per_node_gib": (4.0, "GiB", "memory for one node (one core): the common 4 GiB per vCPU of cloud "
                            "machines; with the file cap lifted, memory bounds the streams per node"),
    "node_cpu_budget": (0.7, "core", "a node (threads = 1) runs on one core, planned to 70% busy: headroom for "
                        "bursts and reconnect storms"),
    "valkey_cpu_budget": (0.7, "core", "one Valkey/Redis server = one main thread; planned to 70% of a core "
                          "(io-threads not measured here)"),
    "valkey_net_budget_gbit": (5.0, "Gbit/s", "per Valkey server: half of a 10 Gbit/s NIC"),
    "wire_overhead": (1.10, "×", "TCP/IP framing over the RESP payload the bench measures (many messages per "
                      "segment under load)"),
    "resource_streams_per_channel": (2, "streams", "per-resource shape: each resource (e.g. a scan) is watched "
                                     "by 2 streams on average (two tabs or two users)"),
    "resource_event_rate": (0.2, "events/s", "per-resource shape: one progress event per resource every 5 s"),
    "hot_channels": (10, "channels", "hot shape: every stream watches one of 10 channels (e.g. a few big "
                     "tenants' feeds)"),
    "hot_event_rate": (1.0, "events/s", "hot shape: one event per second on each hot channel"),
    "publish_over_http": (1, "", "publishes come in as POST /publish on some node (1) or straight into Valkey "
                          "as django-eventstream's send_event() does (0)"),
}
SIZES = [100_000, 1_000_000, 10_000_000]


def a(key: str) -> float:
    return ASSUMPTIONS[key][0]


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float) and v != int(v) and abs(v) < 100:
        return f"{v:.{digits}f}"
    return f"{int(round(v)):,}"


def human(n: float) -> str:
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k"


def need(u: dict, key: str) -> float:
    if key not in u:
        raise KeyError(key)
    return u[key]["value"]


def model(u: dict, fd_cap: bool = True) -> dict:
    """Per shape and size: loads, the count each limit needs, and which binds first. fd_cap: a node
    holds at most streams_per_node (this machine's file cap); without it, memory bounds a node."""
    out = {}
    rss = need(u, "node_rss_kib_per_stream")
    # Kernel memory per stream: socket buffers and slab; on loopback both ends are counted, so half.
    ktcp = (max(0.0, u.get("kernel_tcp_kib_per_stream", {}).get("value", 0.0)) +
            max(0.0, u.get("slab_kib_per_stream", {}).get("value", 0.0))) / 2
    c_msg = need(u, "node_cpu_us_per_message")
    c_fan = need(u, "node_cpu_us_per_delivery_fanout")
    c_pub = u.get("node_cpu_us_per_http_publish", {}).get("value", 0.0) * a("publish_over_http")
    t_bus = u.get("bus_thread_cpu_us_per_message", {}).get("value")
    wire = a("wire_overhead")
    for shape in ("resource", "hot"):
        for size in SIZES:
            if shape == "resource":
                k = a("resource_streams_per_channel")
                channels = size / k
                events = channels * a("resource_event_rate")
                deliveries = events * k
            else:
                channels = a("hot_channels")
                events = channels * a("hot_event_rate")
                deliveries = size * a("hot_event_rate")
            n_fd = math.ceil(size / a("streams_per_node")) if fd_cap else 1
            n_mem = math.ceil(size * (rss + ktcp) / 1024 / 1024 / a("memory_per_node_gib"))

            def msgs_out(n):
                # Subscriber connections a message goes out on: the distinct nodes holding the channel's
                # streams (streams land on nodes at random behind a balancer).
                per = size / channels
                return events * (n * (1 - (1 - 1 / n) ** per) if n > 1 else 1)

            def node_cpu(n):
                if shape == "resource":   # a message carries ~one delivery per receiving node
                    return msgs_out(n) * c_msg + (deliveries - msgs_out(n)) * c_fan + events * c_pub
                return deliveries * c_fan + msgs_out(n) * max(0.0, c_msg - c_fan) + events * c_pub
            n = n_fd
            for _ in range(50):   # the CPU need grows with the node count (more subscriber messages)
                n_cpu = math.ceil(node_cpu(n) / 1e6 / a("node_cpu_budget"))
                n_bus = math.ceil(msgs_out(n) * t_bus / 1e6 / a("node_cpu_budget")) if t_bus else 0
                n2 = max(n_fd, n_mem, n_cpu, n_bus)
                if n2 == n:
                    break
                n = n2
            limits = {"open files": n_fd} if fd_cap else {}
            limits.update({"memory": n_mem, "node CPU": n_cpu})
            if t_bus:
                limits["bus read loop"] = n_bus
            nodes = max(limits.values())
            x = msgs_out(nodes)
            mem_gib = size * (rss + ktcp) / 1024 / 1024
            v = {}
            for kind in ("classic", "sharded"):
                ka, kb = f"valkey_{kind}_cpu_us_per_publish", f"valkey_{kind}_cpu_us_per_subscriber_message"
                if ka not in u or kb not in u:
                    continue
                cpu = (events * u[ka]["value"] + x * u[kb]["value"]) / 1e6
                out_b = x * u.get(f"valkey_{kind}_out_bytes_per_subscriber_message", {}).get("value", 0) * wire
                in_b = events * u.get(f"valkey_{kind}_in_bytes_per_publish", {}).get("value", 0) * wire
                gbit = (out_b + in_b) * 8 / 1e9
                mem = channels * (x / events if events else 1) * \
                    u.get("valkey_bytes_per_subscription", {}).get("value", 0) / 1024 / 1024
                servers_cpu = math.ceil(cpu / a("valkey_cpu_budget"))
                servers_net = math.ceil(gbit / a("valkey_net_budget_gbit"))
                # One channel lives on one shard: a hot channel's own load cannot be split.
                per_channel_cpu = (events / channels * u[ka]["value"] + x / channels * u[kb]["value"]) / 1e6
                v[kind] = dict(cores=cpu, gbit=gbit, mem_mib=mem, servers_cpu=servers_cpu, servers_net=servers_net,
                               servers=max(servers_cpu, servers_net, 1), hottest_channel_cores=per_channel_cpu)
            out[(shape, size)] = dict(channels=channels, events=events, deliveries=deliveries, limits=limits,
                                      nodes=nodes, binding=max(limits, key=limits.get), msgs_out=x,
                                      mem_gib=mem_gib, valkey=v)
    return out


def classic_ceiling(u: dict) -> dict:
    """Publishes/s one classic Valkey carries within its CPU budget, per shape (fan-out of each message)."""
    out = {}
    ka, kb = "valkey_classic_cpu_us_per_publish", "valkey_classic_cpu_us_per_subscriber_message"
    if ka not in u or kb not in u:
        return out
    for name, fan in (("per-resource (≈2 nodes per message)", 2), ("hot, 10 nodes", 10), ("hot, 100 nodes", 100)):
        us = u[ka]["value"] + fan * u[kb]["value"]
        out[name] = a("valkey_cpu_budget") * 1e6 / us if us > 0 else None
    return out


def render(results_dir: Path) -> str:
    u = S.units(results_dir)
    rel = results_dir
    try:
        rel = results_dir.resolve().relative_to(ROOT)
    except ValueError:
        pass
    smoke = any(v["quick"] for v in u.values())
    lines = [f"Generated by `python3 bench/lib/capacity_model.py {rel}` from that run's per-unit costs."]
    if smoke:
        lines.append("\n> **Provisional: built from a smoke run** (short runs, few streams, a busy machine). The "
                     "numbers show the shape of the model, not its values; regenerate after the full run.")
    lines.append("\n### Measured per-unit costs\n")
    lines.append(R.table(["unit", "value", "what", "source"],
                         [[k, R.fmt(v["value"], 2) + (f" {v['unit']}" if v["unit"] else "") +
                           (" (smoke)" if v["quick"] else ""), v["what"], v["source"]] for k, v in u.items()]))
    lines.append("### Assumptions\n")
    lines.append(R.table(["assumption", "value", "why"],
                         [[k, f"{v[0]:g} {v[1]}".strip(), v[2]] for k, v in ASSUMPTIONS.items()]))
    try:
        models = [(True, model(u, True)), (False, model(u, False))]
    except KeyError as e:
        lines.append(f"\n(The model needs the unit {e}; run the scale-out benchmark's idle, fanout and spread "
                     "scenarios with the bus configurations.)\n")
        return "\n".join(lines) + "\n"
    for fd_cap, m in models:
        lines.append(table_for(m, fd_cap))
    cc = classic_ceiling(u)
    if cc:
        lines.append("### When one classic Valkey stops being enough\n")
        lines.append(R.table(["shape", "publishes/s one classic Valkey carries (CPU budget)"],
                             [[k, fmt(v)] for k, v in cc.items()]))
    return "\n".join(lines) + "\n"


def table_for(m: dict, fd_cap: bool) -> str:
    lines = [("### Nodes, Valkey and memory by size: 20,000 files per process (this machine)\n" if fd_cap else
              "### The same with the file cap lifted (LimitNOFILE high): a node per core, bounded by memory and "
              "CPU\n")]
    rows = []
    for (shape, size), r in m.items():
        lim = ", ".join(f"{k} {v:,}" for k, v in r["limits"].items())
        vc, vs = r["valkey"].get("classic"), r["valkey"].get("sharded")
        rows.append([("per-resource" if shape == "resource" else "hot channels"), human(size),
                     fmt(r["channels"]), fmt(r["events"]), fmt(r["deliveries"]), lim, f"**{r['nodes']:,}** "
                     f"({r['binding']})", fmt(r["mem_gib"], 1),
                     fmt(r["msgs_out"]),
                     (f"{vc['cores']:.2f} cores, {vc['gbit']:.2f} Gbit/s" +
                      (" — **over one server**" if vc["servers"] > 1 else "")) if vc else "–",
                     f"{vs['servers']} (CPU {vs['servers_cpu']}, network {vs['servers_net']}); hottest channel "
                     f"{vs['hottest_channel_cores']:.2f} cores" if vs else "–",
                     fmt(vs["mem_mib"], 1) if vs else "–"])
    lines.append(R.table(["shape", "streams", "channels", "events/s", "deliveries/s", "nodes needed by each limit",
                          "nodes", "node memory GiB (all nodes)", "messages/s Valkey → nodes",
                          "classic: one Valkey", "sharded: servers needed", "Valkey subscription memory MiB"], rows))
    return "\n".join(lines)


def default_dir() -> Path | None:
    res = ROOT / "bench" / "results"
    full = sorted(res.glob("*/scaleout/results.jsonl"))
    smoke = sorted(res.glob("archive/*/scaleout-smoke/results.jsonl"))
    for cands in (full, smoke):
        if cands:
            return cands[-1].parent
    return None


def main() -> None:
    args = [x for x in sys.argv[1:] if not x.startswith("--")]
    d = Path(args[0]) if args else default_dir()
    if d is None:
        sys.exit("no scale-out results found; run bench/run.sh scaleout first")
    text = render(d)
    if "--print" in sys.argv or not DOC.exists():
        print(text)
        return
    doc = DOC.read_text()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"{DOC} has no {BEGIN} ... {END} section")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + BEGIN + "\n" + text + END + tail)
    print(f"capacity model: {DOC} updated from {d}", file=sys.stderr)


if __name__ == "__main__":
    main()
