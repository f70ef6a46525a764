#!/usr/bin/env python3
"""What one Herald node spends per bus message: instructions (callgrind) and thread wake-ups.

    python3 bench/lib/bus_profile.py --bin build/bench/bench [--path receive|publish] [--bus redis|local]
                                     [--events 4000] [--rate 200] [--streams 200] [--no-valgrind] [--out DIR]

Timings on a shared 2-core machine are noise; instruction counts are not. This runs one node (threads =
1) under `valgrind --tool=callgrind` with collection switched on only while events flow, and reports
instructions per event and per delivery, with the functions they go to, plus the context switches
of each of the node's threads per event (/proc/PID/task/*/status: every hand-over between the bus
thread and the event loop that finds the other asleep is one). `--no-valgrind` measures the
switches and CPU alone at full speed.

Paths:
  receive  events PUBLISHed straight into redis-server (native format, as django-eventstream's
           send_event() does with Herald's compat format): the node's bus read loop + one delivery each
  publish  POST /publish on the node, which publishes to Valkey and receives its own event back
           (--bus local: the same through the in-process bus, for comparison)

Output: DIR/profile.json (one JSON object) and DIR/callgrind.out + DIR/annotate.txt. Loopback only,
bounded. Python 3 standard library; needs valgrind for the instruction counts.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
import driver as D  # noqa: E402
import scaleout as SO  # noqa: E402


def ctx_switches(pid: int) -> dict:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            txt = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        name = re.search(r"^Name:\s*(\S+)", txt, re.M).group(1)
        v = int(re.search(r"^voluntary_ctxt_switches:\s*(\d+)", txt, re.M).group(1))
        nv = int(re.search(r"^nonvoluntary_ctxt_switches:\s*(\d+)", txt, re.M).group(1))
        out[f"{name}/{tid}"] = v + nv
    return out


def annotate(cg_file: Path, out_txt: Path) -> tuple[int, list[tuple[int, str]], list[tuple[int, str]]]:
    """Total Ir, top exclusive and top inclusive functions."""
    ex = subprocess.run(["callgrind_annotate", "--threshold=99.5", str(cg_file)], capture_output=True, text=True)
    inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=99", str(cg_file)],
                         capture_output=True, text=True)
    out_txt.write_text(ex.stdout + "\n\n==== inclusive ====\n\n" + inc.stdout)

    def rows(text):
        res = []
        for line in text.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.+)$", line)
            if m and ":" in m.group(2) and not line.strip().startswith("Ir"):
                res.append((int(m.group(1).replace(",", "")), m.group(2).strip()))
        return res
    total = 0
    m = re.search(r"^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", ex.stdout, re.M) or \
        re.search(r"^\s*([\d,]+)\s+PROGRAM TOTALS", ex.stdout, re.M)
    if m:
        total = int(m.group(1).replace(",", ""))
    return total, rows(ex.stdout)[:40], rows(inc.stdout)[:60]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--path", choices=["receive", "publish"], default="receive")
    ap.add_argument("--bus", choices=["redis", "local"], default="redis")
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--channels", type=int, default=0, help="default: one per stream")
    ap.add_argument("--burst", action="store_true",
                    help="receive: stop the node (SIGSTOP) while every event is published, then let it read "
                         "them in full 64 KiB reads: the largest batches, the same in every run")
    ap.add_argument("--no-valgrind", action="store_true")
    ap.add_argument("--out", default="")
    ap.add_argument("--cache", default=str(D.ROOT / "build" / "bench-cache"))
    args = ap.parse_args()
    if args.path == "receive" and args.bus == "local":
        sys.exit("--path receive needs --bus redis")
    # Ports of its own, so it can run beside bench/run.sh scaleout.
    SO.PORTS.update(public=18300, internal=18310, valkey=18579)
    valgrind = not args.no_valgrind
    if valgrind and not shutil.which("valgrind"):
        sys.exit("valgrind not installed (apt-get install valgrind), or use --no-valgrind")
    out = Path(args.out or tempfile.mkdtemp(prefix="herald-busprof-out-"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="herald-busprof-"))
    tools = D.Tools(Path(args.bin))
    binary = D.HeraldServer.find_binary()
    proto = D.HeraldServer(binary, tools, work, Path(args.cache))
    channels = args.channels or args.streams
    vk = None
    node = None
    lg = None
    if args.burst and args.path != "receive":
        sys.exit("--burst needs --path receive")
    res: dict = dict(path=args.path, bus=args.bus, events=args.events, rate=args.rate, burst=args.burst,
                     streams=args.streams,
                     channels=channels, valgrind=valgrind, herald_binary=binary,
                     git=subprocess.run(["git", "-C", str(D.ROOT), "rev-parse", "--short", "HEAD"],
                                        capture_output=True, text=True).stdout.strip())
    try:
        if args.bus == "redis":
            vk = SO.start_single(work)
        node = SO.Node(proto, work, 0, reuse_port=False)
        cg = out / "callgrind.out"
        wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={cg}"] \
            if valgrind else None
        node.start(SO.bus_conf("classic" if vk else "local", vk), wrapper=wrapper, timeout=120)
        node.wait_ready(120)
        lg = D.LoadGroup(tools, work, "prof", args.streams, SO.PORTS["public"], "/bench/c{i}", channels,
                         duration=600, token=proto.token)
        if not lg.wait_ready(300):
            raise RuntimeError(f"streams not ready: {lg.progress()}")
        time.sleep(1.0)
        pid = node.pid()
        tpl = f"bench:{proto.tenant}:c{{i}}"
        if args.path == "receive":
            pargs = ["--mode", "redis", "--redis-format", "native", "--redis-prefix", SO.PREFIX,
                     "--port", str(vk.ports()[0])]
        else:
            pargs = ["--mode", "herald", "--port", str(node.internal), "--key", proto.key]
        pargs += ["--channel-template", tpl, "--channels", str(channels), "--rate", str(args.rate),
                  "--max-events", str(args.events),
                  "--duration", str(args.events / args.rate + 60 if args.rate else 120),
                  "--connections", "2", "--pipeline", "64", "--event", D.EVENT, "--event-bytes", str(D.EVENT_BYTES)]
        if valgrind:
            subprocess.run(["callgrind_control", "-i", "on", str(pid)], capture_output=True, check=True)
        cs0, cpu0, m0 = ctx_switches(pid), SO.thread_cpu(pid), node.metrics()
        if args.burst:
            os.kill(pid, signal.SIGSTOP)
        pub, pub_out = D.run_publisher(tools, work, "prof", pargs)
        pub.wait()
        if args.burst:
            os.kill(pid, signal.SIGCONT)
        per_channel = args.streams / channels
        expected = int(D.read_json(pub_out).get("ok_2xx", 0) * per_channel)
        lg.wait_settled(expected, quiet_s=3.0, cap_s=120)
        cs1, cpu1, m1 = ctx_switches(pid), SO.thread_cpu(pid), node.metrics()
        if valgrind:
            subprocess.run(["callgrind_control", "-i", "off", str(pid)], capture_output=True)
            subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True)
        pubres = D.read_json(pub_out)
        lgres = lg.stop()
        lg = None
        ev = pubres.get("ok_2xx", 0)
        got = lgres.get("events", 0)
        msgs = m1.get("herald_bus_messages_received_total", 0) - m0.get("herald_bus_messages_received_total", 0)
        batches = m1.get("herald_bus_read_batches_total", 0) - m0.get("herald_bus_read_batches_total", 0)
        res.update(published=ev, delivered=got, lost=max(0, expected - got), bus_messages=msgs,
                   messages_per_read=round(msgs / batches, 2) if batches else None,
                   ctx_switches_per_event={k: round((cs1.get(k, 0) - v) / ev, 3) for k, v in cs0.items() if ev},
                   ctx_switches_per_event_total=round(sum(cs1.get(k, 0) - v for k, v in cs0.items()) / ev, 3)
                   if ev else None,
                   cpu_s_by_thread={k: round(v - cpu0.get(k, 0.0), 3) for k, v in cpu1.items()})
    finally:
        if lg:
            lg.stop()
        if node:
            node.stop()
        if vk:
            vk.stop()
    if valgrind:
        files = sorted(out.glob("callgrind.out*"), key=lambda p: p.stat().st_size, reverse=True)
        if files:
            total, top_ex, top_inc = annotate(files[0], out / "annotate.txt")
            ev = res.get("published") or 0
            res.update(callgrind_file=str(files[0]), instructions=total,
                       instructions_per_event=round(total / ev) if ev else None,
                       instructions_per_delivery=round(total / res["delivered"]) if res.get("delivered") else None,
                       top_exclusive=[dict(ir=ir, per_event=round(ir / ev) if ev else None, fn=fn[:160])
                                      for ir, fn in top_ex[:25]],
                       top_inclusive=[dict(ir=ir, per_event=round(ir / ev) if ev else None, fn=fn[:160])
                                      for ir, fn in top_inc[:40]])
    (out / "profile.json").write_text(json.dumps(res, indent=1) + "\n")
    keys = ("path", "bus", "published", "delivered", "lost", "messages_per_read", "instructions_per_event",
            "ctx_switches_per_event_total", "cpu_s_by_thread")
    brief = {k: res.get(k) for k in keys}
    print(json.dumps(brief))
    print(f"bus_profile: {out / 'profile.json'}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
