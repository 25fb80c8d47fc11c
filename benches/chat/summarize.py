#!/usr/bin/env python3
"""Prints the chat benchmark tables (Markdown) from run.sh's JSON lines: medians over runs.

Usage: python3 benches/chat/summarize.py [RESULTS_DIR]   (default /tmp/chatstack-chat-bench/results)
"""
import json
import os
import statistics
import sys

DIR = sys.argv[1] if len(sys.argv) > 1 else "/tmp/chatstack-chat-bench/results"
NAMES = {"fanout": "chatstack, fan-out function", "seed": "chatstack, article's functions",
         "sls": "serverless-offline 13.9"}


def lines(name):
    path = os.path.join(DIR, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, d=0):
    if x is None:
        return "–"
    return f"{x:,.{d}f}"


def get(r, path):
    for p in path.split("."):
        if r is None:
            return None
        r = r.get(p)
    return r


def load_table():
    rows = {}
    for r in lines("load.jsonl"):
        if "error" in r:
            print(f"- {r['label']}: {r['error']}")
            continue
        rows.setdefault((r["label"], r["n"]), []).append(r)
    print("| system | N | runs | connect all N (ms) | connect p50 (ms) | delivered / expected | "
          "undelivered of sent | msgs timed out | dup | deliveries/s | e2e p50 / p95 / p99 (ms) | "
          "peak tree procs / RSS MiB | stop reasons |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    order = {"fanout": 0, "seed": 1, "sls": 2}
    for (label, n), rs in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
        m = lambda p: med([get(r, p) for r in rs])  # noqa: E731
        stops = sorted({r["stop_reason"] for r in rs})
        print(f"| {NAMES.get(label, label)} | {n} | {len(rs)} | {fmt(m('connect.all_ms'))} | "
              f"{fmt(m('connect.per_conn_ms.p50'), 1)} | {fmt(m('deliveries'))} / {fmt(rs[0]['deliveries_expected'])} "
              f"({fmt(m('messages_sent'))}/{n * rs[0]['k']} sent) | {fmt(m('undelivered_of_sent'))} | "
              f"{fmt(m('messages_timed_out'))} | {fmt(m('duplicates'))} | {fmt(m('throughput_deliveries_per_s'))} | "
              f"{fmt(m('latency_ms.p50'), 1)} / {fmt(m('latency_ms.p95'), 1)} / {fmt(m('latency_ms.p99'), 1)} | "
              f"{fmt(m('emulator_peak_procs'))} / {fmt(m('emulator_peak_rss_mib'))} | {'; '.join(stops)} |")
    print()
    print("Per run (deliveries/s; p99 ms; peak RSS MiB):")
    for (label, n), rs in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
        per = ", ".join(f"{fmt(r['throughput_deliveries_per_s'])}; {fmt(get(r, 'latency_ms.p99'), 1)}; "
                        f"{fmt(r['emulator_peak_rss_mib'])}" for r in rs)
        print(f"- {label} N={n}: {per}")


def rtt_table():
    rows = {}
    for r in lines("rtt.jsonl"):
        rows.setdefault(r["label"], []).append(r)
    gw = {}
    for r in lines("gateway.jsonl"):
        gw.setdefault(r["label"], []).append(get(r, "transport_function_ms.p50"))
    print("| system | runs | fresh: connect A+B p50 | fresh: A send → B recv p50 | fresh total p50 / p95 | "
          "warm: A send → B recv p50 / p95 | transport function's own duration p50 | warm p50 − function | "
          "1st rep (cold) connect / msg | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, rs in rows.items():
        m = lambda p: med([get(r, p) for r in rs])  # noqa: E731
        fn = med(gw.get(label, []))
        warm = m("warm_msg_ms.p50")
        over = warm - fn if warm is not None and fn is not None else None
        errs = sum(len(r.get("errors") or []) for r in rs)
        print(f"| {NAMES.get(label, label)} | {len(rs)} | {fmt(m('fresh_ms.connect.p50'), 2)} | "
              f"{fmt(m('fresh_ms.msg.p50'), 2)} | {fmt(m('fresh_ms.total.p50'), 2)} / {fmt(m('fresh_ms.total.p95'), 2)} | "
              f"{fmt(warm, 2)} / {fmt(m('warm_msg_ms.p95'), 2)} | {fmt(fn, 2)} | {fmt(over, 2)} | "
              f"{fmt(m('cold_first_rep_ms.connect'), 1)} / {fmt(m('cold_first_rep_ms.msg'), 1)} | {errs} |")


def idle_table():
    rs = lines("idle.jsonl")
    if not rs:
        return
    print("| N | opened | failures | dropped while held | connect all (ms) | connect p50 / p99 (ms) | "
          "tree RSS before / holding / peak (MiB) | gateway process RSS before / holding (MiB) | procs holding | "
          "gateway RSS per connection (KiB) | close all (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rs:
        print(f"| {fmt(r['n'])} | {fmt(r['opened'])} | {r['failures']} | {r['dropped_while_holding']} | "
              f"{fmt(r['connect_all_ms'])} | {fmt(get(r, 'connect_ms.p50'), 1)} / {fmt(get(r, 'connect_ms.p99'), 1)} | "
              f"{fmt(get(r, 'tree_before.rss_mib'), 1)} / {fmt(get(r, 'tree_holding_end.rss_mib'), 1)} / {fmt(r['peak_rss_mib'], 1)} | "
              f"{fmt(get(r, 'tree_before.gateway_rss_mib'), 1)} / {fmt(get(r, 'tree_holding_end.gateway_rss_mib'), 1)} | "
              f"{get(r, 'tree_holding_end.procs')} | {fmt(r['gateway_rss_per_connection_kib'], 1)} | {fmt(r['close_all_ms'])} |")


def mem_table():
    rows = {}
    for r in lines("mem.jsonl"):
        rows.setdefault((r["label"], r["n"]), []).append(r)
    if not rows:
        return
    print("| system | N | runs | connect + messaging: peak tree PSS (MiB) / procs | whole run, closing all "
          "connections included: peak tree PSS (MiB) / procs | summed RSS, whole run (MiB) | at the PSS peak, "
          "PSS by process (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for (label, n), rs in sorted(rows.items()):
        m = lambda p: med([get(r, p) for r in rs])  # noqa: E731
        mid = sorted(rs, key=lambda r: r["peak_pss_mib"])[len(rs) // 2]
        parts = ", ".join(f"{k} {v['procs']}× {fmt(v['pss_mib'], 1)}" for k, v in (mid.get("at_pss_peak") or {}).items())
        print(f"| {NAMES.get(label, label)} | {n} | {len(rs)} | {fmt(m('until_peak_pss_mib'), 1)} / "
              f"{fmt(m('until_peak_procs'))} | {fmt(m('peak_pss_mib'), 1)} / {fmt(m('peak_procs'))} | "
              f"{fmt(m('peak_rss_mib'), 1)} | {parts} |")
    print()
    print("Per run (peak PSS MiB, connect + messaging / whole run):")
    for (label, n), rs in sorted(rows.items()):
        print(f"- {label} N={n}: " + ", ".join(
            f"{fmt(r.get('until_peak_pss_mib'), 1)} / {fmt(r['peak_pss_mib'], 1)}" for r in rs))


print("### Load: broadcast, K messages per client, window W=8, connects 8 at a time (medians)\n")
load_table()
print("\n### Round trip, 2 clients, 100 repetitions (ms, medians of the runs' p50/p95)\n")
rtt_table()
print("\n### Idle connections\n")
idle_table()
print("\n### Memory of the local cloud's process tree (memtree.py: PSS counts a page shared by k processes 1/k in each)\n")
mem_table()
