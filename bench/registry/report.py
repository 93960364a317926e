#!/usr/bin/env python3
"""Turn run's raw results (results.tsv, mem.log) into the benchmark tables.

usage: report.py RESULTS_TSV MEM_LOG [--title T] [--ref R] [--reps N]
                 [--sizes S] [--load L] [--nproc N]
"""
import argparse
import collections
import statistics

# metric, label, unit, higher_is_better, min ratio to the reference
# (max ratio if lower is better), min ratio to nginx, note
METRICS = [
    ("push-big", "1 push big blob: POST, 1 PATCH, PUT", "MB/s", True, 2.0, None, ""),
    ("push-mid", "1 push 64 MiB blob: POST, PATCH, PUT", "MB/s", True, 0.85, None, ""),
    ("pull-big", "1 pull big blob, 1 client", "MB/s", True, 1.0, 0.8, ""),
    ("push-small", "2 push 4 KiB blobs, 16 clients", "push/s", True, 2.0, None, ""),
    ("pull-16", "3 pull 64 MiB blob, 16 clients", "MB/s", True, 1.0, 0.8, ""),
    ("pull-16-verify", "3 the same, each stream's SHA-256 checked", "MB/s", True, 1.0, None, ""),
    ("manifest-get", "4 manifest GET by tag, wrk c32", "req/s", True, 5.0, None, ""),
    ("blob-head", "4 blob HEAD, regload c32", "req/s", True, 5.0, None, ""),
    ("tag-push", "5 push tags (manifest PUT), 16 cl.", "tag/s", True, 2.0, None, ""),
    ("tag-list", "5 tags/list of 1000 tags, wrk c32", "req/s", True, 2.0, None, "*"),
    ("tag-list-1c", "5 tags/list, 1 connection, mean", "ms", False, 0.5, None, "*"),
]
MEM_TARGET = 0.5


def fmt(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def table(header, rows, aligns):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = []

    def line(r):
        cells = []
        for i, c in enumerate(r):
            c = str(c)
            cells.append(c.ljust(widths[i]) if aligns[i] == "l" else c.rjust(widths[i]))
        return "| " + " | ".join(cells) + " |"

    out.append(line(header))
    out.append("|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, aligns)) + "|")
    out += [line(r) for r in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("memlog")
    ap.add_argument("--title", default="berthd")
    ap.add_argument("--ref", default="docker-registry")
    ap.add_argument("--reps", default="?")
    ap.add_argument("--sizes", default="")
    ap.add_argument("--load", default="?")
    ap.add_argument("--nproc", default="?")
    a = ap.parse_args()

    vals = collections.defaultdict(list)  # (metric, server) -> [(rep, value, ok, ccpu, scpu, wall)]
    push_phases = collections.defaultdict(list)  # (push metric, server) -> [(server cpu s, post, send, store, put)]
    with open(a.results) as f:
        next(f)
        for line in f:
            m, s, rep, v, ccpu, scpu, wall, ok, _extra = (line.rstrip("\n").split("\t") + [""] * 9)[:9]
            vals[(m, s)].append((int(rep), float(v), ok == "1", float(ccpu), float(scpu), float(wall)))
            phases = dict(kv.split("=", 1) for kv in _extra.split() if "=" in kv)
            if m.startswith("push-") and "send_s" in phases and ok == "1":
                push_phases[(m, s)].append((float(scpu), *(float(phases[k]) for k in ("post_s", "send_s", "store_s", "put_s"))))

    def med(m, s):
        xs = [v for _, v, ok, *_ in vals.get((m, s), []) if ok]
        return statistics.median(xs) if xs else None

    def failed(m, s):
        return any(not ok for _, _, ok, *_ in vals.get((m, s), []))

    print(f"Berth registry benchmark: median of {a.reps} interleaved repetitions (berth and reference in turn first, then nginx)")
    print(f"  berth:     {a.title}")
    print(f"  reference: {a.ref} (filesystem driver, inmemory blob descriptor cache, access log off)")
    print(f"  sizes:     {a.sizes}")
    print(f"  machine:   {a.nproc} CPUs, load average at the end {a.load}")
    print()

    rows = []
    for m, label, unit, higher, ref_t, ngx_t, note in METRICS:
        b, r, n = med(m, "berth"), med(m, "ref"), med(m, "nginx")
        br = b / r if b is not None and r else None
        bn = b / n if b is not None and n else None
        verdict, tgt = [], []
        if higher:
            tgt.append(f">= {ref_t:g}x ref")
            if br is not None:
                verdict.append(br >= ref_t)
        else:
            tgt.append(f"<= {ref_t:g}x ref")
            if br is not None:
                verdict.append(br <= ref_t)
        if ngx_t is not None:
            tgt.append(f">= {ngx_t:g}x nginx")
            if bn is not None:
                verdict.append(bn >= ngx_t)
        if failed(m, "berth") or failed(m, "ref") or failed(m, "nginx"):
            res = "ERRORS"
        elif not verdict:
            res = "-"
        else:
            res = "pass" if all(verdict) else "FAIL"
        rows.append([label, unit, fmt(b), fmt(r), fmt(br) + "x" if br else "-", fmt(n),
                     fmt(bn) + "x" if bn else "-", ", ".join(tgt) + note, res])
    print(table(["workload", "unit", "berth", "reference", "berth/ref", "nginx", "berth/nginx", "target", "result"],
                rows, "llrrrrrll"))
    print("* no target in the issue for tag listing; the small-operation one (2x) is applied.")
    print()

    # ---- memory ----
    # mem.log: time phase name rssanon_kB vmhwm_kB vmrss_kB; phase "metric:server"
    peak = collections.defaultdict(int)  # (metric, server) -> max RssAnon during its own phases
    overall = collections.defaultdict(int)
    hwm = collections.defaultdict(int)
    try:
        with open(a.memlog) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 6:
                    continue
                _t, phase, name, anon, vmhwm, _rss = parts
                anon, vmhwm = int(anon), int(vmhwm)
                overall[name] = max(overall[name], anon)
                hwm[name] = max(hwm[name], vmhwm)
                metric, _, server = phase.partition(":")
                if server == name:
                    peak[(metric, name)] = max(peak[(metric, name)], anon)
    except FileNotFoundError:
        pass

    def mib(kb):
        return kb / 1024 if kb else None

    rows = []

    def memrow(label, b, r, tgt=True):
        ratio = b / r if b is not None and r else None
        res = "-"
        if tgt and ratio is not None:
            res = "pass" if ratio <= MEM_TARGET else "FAIL"
        rows.append([label, fmt(b), fmt(r), fmt(ratio) + "x" if ratio else "-",
                     f"<= {MEM_TARGET:g}x ref" if tgt else "", res])

    for m, label, *_ in [("setup", "setup (pushes, checks)")] + METRICS:
        if (m, "berth") in peak or (m, "ref") in peak:
            memrow(label, mib(peak.get((m, "berth"))), mib(peak.get((m, "ref"))))
    memrow("whole run: peak RssAnon", mib(overall.get("berth")), mib(overall.get("ref")))
    memrow("whole run: VmHWM (incl. file-backed)", mib(hwm.get("berth")), mib(hwm.get("ref")), tgt=False)
    print("Server memory, MiB: peak RssAnon while each workload ran against that server (sampled every 50 ms)")
    print(table(["during", "berth", "reference", "berth/ref", "target", "result"], rows, "lrrrll"))
    print()

    # ---- CPU: is the client the bottleneck? ----
    rows = []
    for m, label, *_ in METRICS:
        for s in ("berth", "ref", "nginx"):
            v = vals.get((m, s))
            if not v:
                continue
            cc = statistics.median(x[3] / x[5] * 100 if x[5] else 0 for x in v)
            sc = statistics.median(x[4] / x[5] * 100 if x[5] else 0 for x in v)
            wall = statistics.median(x[5] for x in v)
            rows.append([label, s, f"{wall:.2f}", f"{cc:.0f}%", f"{sc:.0f}%",
                         "client >= server" if cc >= sc and sc > 0 else ""])
    print(f"CPU during each measurement (100% = one core of {a.nproc}; medians). The load generator")
    print("shares the machine with the server: its CPU is taken from the server's budget.")
    print(table(["workload", "server", "wall s", "client CPU", "server CPU", "note"], rows, "llrrrl"))
    print()

    # ---- pushes: where the time goes ----
    rows = []
    for m, label, *_ in METRICS:
        for s in ("berth", "ref"):
            v = push_phases.get((m, s))
            if v:
                rows.append([label, s] + [f"{statistics.median(x[i] for x in v):.3f}" for i in range(5)])
    if rows:
        print("Single pushes, medians in seconds: the server's CPU per push (all its threads, 10 ms ticks), and the")
        print("client's view of each request: POST; PATCH until its body was sent (the server receiving it; h2o")
        print("buffers the whole body before Berth sees any of it); from then to the PATCH's reply (storing it); PUT.")
        print(table(["workload", "server", "server CPU", "POST", "PATCH send", "PATCH store", "PUT"], rows, "llrrrrr"))
        print()

    # ---- raw ----
    print("Every repetition (in run order; ! = failed):")
    for m, label, *_ in METRICS:
        for s in ("berth", "ref", "nginx"):
            v = vals.get((m, s))
            if v:
                print(f"  {m:12} {s:6} " + " ".join(fmt(x[1]) + ("" if x[2] else "!") for x in sorted(v)))


if __name__ == "__main__":
    main()
