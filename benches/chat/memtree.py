#!/usr/bin/env python3
"""Peak memory of a process tree, sampled until the root ends or SIGTERM arrives.

    memtree.py --pid PID --out FILE.jsonl --label L --n N [--interval 0.25] [--until-file F]

Per sample, over the root and all its descendants (from /proc): the summed RSS, the summed PSS
(from /proc/PID/smaps_rollup: a page shared by k processes counts 1/k in each, so the sum is
what the tree really occupies; summed RSS counts a shared page once per process), and the
number of processes. Appends one JSON line with the peaks (the PSS and RSS of the gateway
process alone at the PSS peak, and the PSS there by process name: workers name themselves
after their function) to FILE when it stops. With --until-file, the peaks up to the Unix time
written in that file (the end of the load client's connect + messaging phases, before it
closes every connection) are added as `until_*`. Linux only; standard library only.
"""

import argparse
import json
import os
import signal
import time


def tree(root):
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def rollup(pid):
    """(rss_kib, pss_kib) of one process, or None if it is gone."""
    rss = pss = None
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        return None
    if rss is None or pss is None:
        return None
    return rss, pss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--until-file", help="read at stop: a Unix time; peaks up to it are reported too")
    a = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    peak = {"pss_kib": 0, "rss_kib": 0, "procs": 0, "gateway_pss_kib": 0, "gateway_rss_kib": 0}
    samples = 0
    timeline = []  # (unix time, pss_kib, rss_kib, procs)
    while not stop and os.path.exists("/proc/%d" % a.pid):
        pss = rss = procs = 0
        gateway = None
        parts = {}
        for p in tree(a.pid):
            r = rollup(p)
            if r is None:
                continue
            procs += 1
            rss += r[0]
            pss += r[1]
            if p == a.pid:
                gateway = r
            # Workers name themselves after their function; the rest by program.
            part = parts.setdefault("gateway" if p == a.pid else comm(p), [0, 0])
            part[0] += 1
            part[1] += r[1]
        samples += 1
        timeline.append((time.time(), pss, rss, procs))
        if pss > peak["pss_kib"]:
            peak["pss_kib"] = pss
            peak["parts"] = {k: {"procs": v[0], "pss_mib": round(v[1] / 1024, 1)}
                             for k, v in sorted(parts.items())}
            if gateway:
                peak["gateway_rss_kib"], peak["gateway_pss_kib"] = gateway
        peak["rss_kib"] = max(peak["rss_kib"], rss)
        peak["procs"] = max(peak["procs"], procs)
        time.sleep(a.interval)
    doc = {
        "label": a.label,
        "n": a.n,
        "samples": samples,
        "peak_pss_mib": round(peak["pss_kib"] / 1024, 1),
        "peak_rss_mib": round(peak["rss_kib"] / 1024, 1),
        "peak_procs": peak["procs"],
        "gateway_at_pss_peak_pss_mib": round(peak["gateway_pss_kib"] / 1024, 1),
        "gateway_at_pss_peak_rss_mib": round(peak["gateway_rss_kib"] / 1024, 1),
        "at_pss_peak": peak.get("parts", {}),
    }
    until = None
    if a.until_file:
        try:
            with open(a.until_file) as f:
                until = float(f.read().strip())
        except (OSError, ValueError):
            until = None
    if until is not None:
        early = [s for s in timeline if s[0] <= until]
        doc["until_peak_pss_mib"] = round(max((s[1] for s in early), default=0) / 1024, 1)
        doc["until_peak_rss_mib"] = round(max((s[2] for s in early), default=0) / 1024, 1)
        doc["until_peak_procs"] = max((s[3] for s in early), default=0)
        doc["until_samples"] = len(early)
    with open(a.out, "a") as f:
        f.write(json.dumps(doc) + "\n")


if __name__ == "__main__":
    main()
