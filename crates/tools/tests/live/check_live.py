#!/usr/bin/env python3
"""Helpers of scripts/check-live (standard library, plus PyYAML for `promql`).

    check_live.py load    --url U --key K --election E --votes N --seconds S --out FILE
    check_live.py settle  --url U --election E --report FILE [--timeout S]
    check_live.py page    --url U --election E --chromium BIN --profile DIR [--attempts N]
                          [--final] [--screenshot PNG]
    check_live.py promql  --prom P --root DIR --allow FILE [--out FILE]

Every loop is bounded in count and time; every child process (chromium) runs in its own
process group under a timeout and is killed as a group when it overstays.
"""
import argparse
import http.client
import json
import os
import random
import html
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from html.parser import HTMLParser


def log(*a):
    print(*a, flush=True)


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def metrics_text(url):
    with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=10) as r:
        return r.read().decode()


def metric_sum(text, name, labels=None):
    """Sum of the samples of `name` (exact name) whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if labels and any(got.get(k) != v for k, v in labels.items()):
            continue
        total += float(m.group(3))
    return total


def counters(url):
    t = metrics_text(url)
    return {
        "accepted": metric_sum(t, "votechain_ingest_requests_total", {"outcome": "accepted"}),
        "chained": metric_sum(t, "votechain_writer_votes_chained_total"),
        "duplicates": metric_sum(t, "votechain_writer_duplicates_total"),
        "consumed": metric_sum(t, "votechain_writer_records_consumed_total"),
        "dead_letters": metric_sum(t, "votechain_writer_dead_letters_total"),
    }


# ── load ─────────────────────────────────────────────────────────────────────────────────
def cmd_load(a):
    u = urllib.parse.urlparse(a.url)
    elections = get_json(a.url + "/v1/elections")["elections"]
    e = next((x for x in elections if x["id"] == a.election), None)
    if not e:
        sys.exit(f"load: election {a.election} is not configured ({[x['id'] for x in elections]})")
    cands, regions = e["candidates"], e["regions"]
    baseline = get_json(f"{a.url}/v1/elections/{a.election}/results")
    before = counters(a.url)

    rng = random.Random(a.seed)
    n_resub = int(a.votes * a.resubmit_share)
    kinds = ["new"] * a.votes + ["resub"] * n_resub
    head, tail = kinds[:50], kinds[50:]          # the first 50 are new: something to resubmit
    rng.shuffle(tail)
    kinds = head + tail
    weights = [max(1, len(cands) - i) for i in range(len(cands))]   # unequal shares: alice > bob > carol
    period = a.seconds / len(kinds)
    start = time.monotonic()
    hard_stop = start + a.seconds + a.grace

    lock = threading.Lock()
    st = {"next": 0, "accepted": [], "status": {}, "new_202": 0, "resub_202": 0, "retries": 0,
          "unresolved": [], "bad": [], "lat": [], "expected": {c: 0 for c in cands},
          "expected_regions": {r: {c: 0 for c in cands} for r in regions}}

    def send(conn_box, body):
        """POSTs until 202 (at most a.attempts tries, retrying 503 and transport errors)."""
        last = None
        for attempt in range(a.attempts):
            if time.monotonic() > hard_stop:
                break
            t0 = time.monotonic()
            try:
                if conn_box[0] is None:
                    conn_box[0] = http.client.HTTPConnection(u.hostname, u.port, timeout=a.request_timeout)
                c = conn_box[0]
                c.request("POST", f"/v1/elections/{a.election}/votes", body=body,
                          headers={"Authorization": f"Bearer {a.key}", "Content-Type": "application/json"})
                r = c.getresponse()
                payload = r.read()
                code, retry_after = r.status, r.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as ex:
                if conn_box[0] is not None:
                    conn_box[0].close()
                conn_box[0] = None
                code, retry_after, payload = f"error:{type(ex).__name__}", None, b""
            with lock:
                st["status"][str(code)] = st["status"].get(str(code), 0) + 1
                if code == 202:
                    st["lat"].append(time.monotonic() - t0)
            if code == 202:
                return 202, None
            last = (code, payload[:200].decode(errors="replace"))
            if code == 503 or str(code).startswith("error:"):
                with lock:
                    st["retries"] += 1
                try:
                    pause = min(2.0, float(retry_after or 0.5))
                except ValueError:
                    pause = 0.5
                time.sleep(pause)
                continue
            return code, last      # 4xx: a bug of this check or of the API; never retried
        return None, last

    def worker():
        box = [None]
        while True:
            with lock:
                k = st["next"]
                if k >= len(kinds) or time.monotonic() > hard_stop:
                    break
                st["next"] += 1
                kind = kinds[k]
                if kind == "resub" and st["accepted"]:
                    pool = st["accepted"]
                    # half of them recent (likely still in the writer's batch), half anywhere
                    body = rng.choice(pool[-20:]) if rng.random() < 0.5 else rng.choice(pool)
                else:
                    kind = "new"
                    c = rng.choices(cands, weights)[0]
                    r = rng.choice(regions)
                    # One salt per ballot, resent with it: a resubmission is the same ballot.
                    body = json.dumps({"vote_id": str(uuid.uuid4()), "candidate_id": c, "region_id": r,
                                       "salt": rng.randbytes(32).hex()})
            due = start + k * period
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, a.seconds))
            code, why = send(box, body)
            with lock:
                if code == 202:
                    if kind == "new":
                        v = json.loads(body)
                        st["new_202"] += 1
                        st["accepted"].append(body)
                        st["expected"][v["candidate_id"]] += 1
                        st["expected_regions"][v["region_id"]][v["candidate_id"]] += 1
                    else:
                        st["resub_202"] += 1
                elif code is None:
                    st["unresolved"].append({"body": body, "last": why})
                else:
                    st["bad"].append({"body": body, "code": code, "last": why})
        if box[0] is not None:
            box[0].close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    last_print = start
    while any(t.is_alive() for t in threads) and time.monotonic() < hard_stop + a.request_timeout + 5:
        time.sleep(0.5)
        if time.monotonic() - last_print >= 10:
            last_print = time.monotonic()
            with lock:
                log(f"   load: {time.monotonic() - start:5.1f} s, {st['next']}/{len(kinds)} started, "
                    f"{st['new_202']} new + {st['resub_202']} resubmissions answered 202")
    alive = sum(t.is_alive() for t in threads)
    elapsed = time.monotonic() - start
    lat = sorted(st["lat"])
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1) if lat else None
    report = {
        "election": a.election, "planned_new": a.votes, "planned_resubmissions": n_resub,
        "started": st["next"], "new_202": st["new_202"], "resub_202": st["resub_202"],
        "retries": st["retries"], "status": st["status"], "unresolved": st["unresolved"][:10],
        "n_unresolved": len(st["unresolved"]), "bad": st["bad"][:10], "n_bad": len(st["bad"]),
        "threads_still_running": alive, "elapsed_s": round(elapsed, 1),
        "rate_per_s": round((st["new_202"] + st["resub_202"]) / elapsed, 1) if elapsed else 0,
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": round(lat[-1] * 1000, 1) if lat else None},
        "expected": st["expected"], "expected_regions": st["expected_regions"],
        "baseline": baseline, "counters_before": before,
    }
    json.dump(report, open(a.out, "w"), indent=1)
    log(f"   load: {report['new_202']} distinct votes + {report['resub_202']} resubmissions answered 202 in "
        f"{report['elapsed_s']} s ({report['rate_per_s']}/s, p50 {report['latency_ms']['p50']} ms, "
        f"p99 {report['latency_ms']['p99']} ms); statuses {report['status']}; {report['retries']} retries")
    ok = (report["n_unresolved"] == 0 and report["n_bad"] == 0 and alive == 0
          and st["next"] == len(kinds) and report["new_202"] == a.votes)
    if not ok:
        log(f"   load: FAILED: {report['n_unresolved']} never answered 202, {report['n_bad']} refused, "
            f"{len(kinds) - st['next']} never sent, {alive} workers still running")
        for x in report["unresolved"][:3] + report["bad"][:3]:
            log("        ", x)
    sys.exit(0 if ok else 1)


# ── settle: the pipeline has counted exactly the accepted votes ─────────────────────────────
def cmd_settle(a):
    rep = json.load(open(a.report))
    base = rep["baseline"]
    want_total = base["total"] + rep["new_202"]
    want = {c: base["candidates"].get(c, 0) + n for c, n in rep["expected"].items()}
    want_reg = {r: {c: base["regions"].get(r, {}).get(c, 0) + n for c, n in per.items()}
                for r, per in rep["expected_regions"].items()}
    b = rep["counters_before"]
    deadline = time.monotonic() + a.timeout
    res, cnt = None, None
    while True:
        res = get_json(f"{a.url}/v1/elections/{a.election}/results")
        cnt = counters(a.url)
        consumed = cnt["consumed"] - b["consumed"]
        answered = (cnt["accepted"] - b["accepted"])
        if res["total"] > want_total:
            break     # counted more than accepted: no point in waiting
        if (res["total"] == want_total and res["candidates"] == want and consumed >= answered) \
                or time.monotonic() > deadline:
            break
        time.sleep(1)
    d = {k: cnt[k] - b[k] for k in cnt}
    http_202 = rep["new_202"] + rep["resub_202"]
    checks = [
        ("results total = distinct votes answered 202", res["total"] - base["total"], rep["new_202"]),
        ("results per candidate = votes sent for them", {c: res["candidates"][c] - base["candidates"].get(c, 0) for c in want}, rep["expected"]),
        ("results per region and candidate", {r: res["regions"].get(r) for r in want_reg}, want_reg),
        ("votechain_ingest_requests_total{outcome=accepted} delta = HTTP 202s", int(d["accepted"]), http_202),
        ("votechain_writer_votes_chained_total delta = distinct votes", int(d["chained"]), rep["new_202"]),
        ("votechain_writer_dead_letters_total delta = 0", int(d["dead_letters"]), 0),
    ]
    # Every resubmission is a duplicate at the writer. An aborted transaction (a 503 the client
    # retried) may add duplicates in the mock cluster (ARCHITECTURE.md, "Aborted Kafka records").
    if rep["retries"] == 0:
        checks.append(("votechain_writer_duplicates_total delta = resubmissions", int(d["duplicates"]), rep["resub_202"]))
    else:
        checks.append(("votechain_writer_duplicates_total delta >= resubmissions", int(d["duplicates"]) >= rep["resub_202"], True))
    fail = 0
    for what, got, exp in checks:
        ok = got == exp
        fail += not ok
        show = lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v)
        log(f"   {'ok  ' if ok else 'FAIL'} {what}: {show(got)}" + ("" if ok else f" (expected {show(exp)})"))
    sys.exit(1 if fail else 0)


# ── page: the status page in headless Chromium against the results API ──────────────────────
class Counts(HTMLParser):
    def __init__(self, election):
        super().__init__()
        self.election = election
        self.want = None
        self.cands, self.total, self.cells = {}, None, {}

    def handle_starttag(self, tag, attrs):
        at = dict(attrs)
        if at.get("data-election") == self.election and "data-candidate" in at:
            self.want = ("cand", at["data-candidate"])
        elif at.get("id") == f"total-{self.election}":
            self.want = ("total", None)
        elif "data-region" in at and "data-region-candidate" in at:
            self.want = ("cell", (at["data-region"], at["data-region-candidate"]))
        else:
            self.want = None

    def handle_data(self, data):
        if not self.want:
            return
        kind, key = self.want
        v = int(data.strip()) if data.strip().isdigit() else data.strip()
        if kind == "cand":
            self.cands[key] = v
        elif kind == "total":
            self.total = v
        else:
            self.cells[key] = v
        self.want = None

    def handle_endtag(self, tag):
        self.want = None


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--mute-audio", "--window-size=1280,1400"]


def chromium(a, extra, timeout=30):
    """Runs chromium in its own process group; kills the whole group when it overstays."""
    prof = os.path.join(a.profile, f"p{time.monotonic_ns()}")
    os.makedirs(prof)
    cmd = [a.chromium] + CHROME_FLAGS + [f"--user-data-dir={prof}", f"--virtual-time-budget={a.budget_ms}"] + extra + [a.url + "/"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise RuntimeError(f"chromium did not finish within {timeout} s")
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)   # helpers left in the group, if any (ours only)
        except ProcessLookupError:
            pass
    if p.returncode != 0:
        raise RuntimeError(f"chromium exited {p.returncode}: {err.decode(errors='replace')[-600:]}")
    return out.decode(errors="replace")


def page_counts(a):
    dom = chromium(a, ["--dump-dom"])
    p = Counts(a.election)
    p.feed(dom)
    return {"total": p.total, "candidates": p.cands,
            "regions": {r: {c: v for (rr, c), v in p.cells.items() if rr == r} for r in sorted({r for r, _ in p.cells})}}


def api_counts(a):
    r = get_json(f"{a.url}/v1/elections/{a.election}/results")
    return {"total": r["total"], "candidates": r["candidates"], "regions": r["regions"]}


def cmd_page(a):
    ok = False
    for i in range(1, a.attempts + 1):
        try:
            before = api_counts(a)
            t0 = time.monotonic()
            page = page_counts(a)
            after = api_counts(a)
        except (OSError, RuntimeError, ValueError) as ex:
            log(f"   page attempt {i}: {ex}")
            time.sleep(a.pause)
            continue
        dt = time.monotonic() - t0
        if page["total"] is None or set(page["candidates"]) != set(before["candidates"]):
            log(f"   page attempt {i}: the page shows no counts for {a.election} "
                f"(total {page['total']!r}, candidates {sorted(page['candidates'])})")
        elif a.final:
            ok = page == before == after
        else:
            ok = page in (before, after)
        log(f"   page attempt {i} ({dt:.1f} s): page total {page['total']} {json.dumps(page['candidates'], sort_keys=True)}; "
            f"API {before['total']}{'' if after == before else '->' + str(after['total'])} "
            f"{json.dumps(after['candidates'], sort_keys=True)}: {'MATCH' if ok else 'differs'}"
            + ("" if ok or page['total'] is None else (" (counts moving under load)" if before != after else "")))
        if ok:
            break
        time.sleep(a.pause)
    if not ok:
        log(f"   the status page did not match the results API in {a.attempts} attempts")
    if a.screenshot:
        os.makedirs(os.path.dirname(os.path.abspath(a.screenshot)), exist_ok=True)
        if os.path.exists(a.screenshot):
            os.remove(a.screenshot)
        chromium(a, [f"--screenshot={os.path.abspath(a.screenshot)}"])
        with open(a.screenshot, "rb") as f:
            head = f.read(24)
        if head[:8] != b"\x89PNG\r\n\x1a\n":
            log(f"   FAIL {a.screenshot} is not a PNG")
            sys.exit(1)
        w, h = struct.unpack(">II", head[16:24])
        log(f"   screenshot: {a.screenshot} (PNG {w}x{h}, {os.path.getsize(a.screenshot)} bytes)")
    sys.exit(0 if ok or (not a.final and not a.strict) else 1)


# ── promql: every dashboard and rule expression through Prometheus's HTTP API ────────────────
# The allow-list lives in scripts/check-live (printed there with its reasons) and reaches
# this file as lines `selector :: reason`. An entry `name{matcher}` covers only selectors of
# `name` carrying that label matcher; a bare `name` covers every selector of the metric.
ALLOW = []


def load_allow(path):
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sel, why = (x.strip() for x in line.split(" :: ", 1))
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?", sel)
        if not m:
            sys.exit(f"allow-list: cannot read selector {sel!r}")
        ALLOW.append((m.group(1), m.group(2), why))


def allowed(sel):
    name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", sel)
    name = name.group(0) if name else ""
    flat = re.sub(r"\s+", "", sel)
    for metric, matcher, why in ALLOW:
        if metric == name and (matcher is None or re.sub(r"\s+", "", matcher) in flat):
            return why
    return None


AGG_MODIFIERS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
WORD_OPS = {"and", "or", "unless", "bool", "atan2", "offset", "inf", "nan"}
# Aggregation operators are keywords (never metric names), also before `by`/`without`.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}


def _skip_string(s, i):
    q = s[i]
    i += 1
    while i < len(s) and s[i] != q:
        i += 2 if s[i] == "\\" and q != "`" else 1
    return i + 1


def _match(s, i, open_, close):
    depth = 0
    while i < len(s):
        if s[i] in "\"'`":
            i = _skip_string(s, i)
            continue
        if s[i] == open_:
            depth += 1
        elif s[i] == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced {open_}{close} in {s!r}")


def selectors(expr):
    """The vector selectors of a PromQL expression (metric name plus {matchers}), in order."""
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "[":                                   # range or subquery: durations only
            i = _match(expr, i, "[", "]") + 1
        elif c == "{":                                   # nameless selector {__name__=~...}
            j = _match(expr, i, "{", "}")
            out.append(expr[i:j + 1])
            i = j + 1
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            while i < n and (expr[i].isalnum() or expr[i] in "._"):
                i += 1                                   # numbers and durations (5m, 1e3, 0x1f)
        elif c.isalpha() or c in "_:":
            j = i
            while j < n and (expr[j].isalnum() or expr[j] in "_:"):
                j += 1
            word, k = expr[i:j], j
            while k < n and expr[k].isspace():
                k += 1
            nxt = expr[k] if k < n else ""
            if word in AGG_MODIFIERS and nxt == "(":
                i = _match(expr, k, "(", ")") + 1        # label list, not selectors
            elif nxt == "(" or word.lower() in WORD_OPS or word.lower() in AGGREGATIONS:
                i = j                                    # function, aggregation or keyword
            elif nxt == "{":
                e = _match(expr, k, "{", "}")
                out.append(word + expr[k:e + 1])
                i = e + 1
            else:
                out.append(word)
                i = j
        else:
            i += 1
    return [re.sub(r"\s+", " ", s).strip() for s in out]


def strip_strings(s):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', s)


def collect(root):
    import yaml
    exprs = []
    pdir = os.path.join(root, "deploy/prometheus")
    for f in sorted(os.listdir(pdir)):
        if "rules" in f and f.endswith((".yml", ".yaml")):
            for g in yaml.safe_load(open(os.path.join(pdir, f)))["groups"]:
                for r in g["rules"]:
                    exprs.append((f"{f}: {r.get('alert') or r.get('record')}", r["expr"]))
    dash = json.load(open(os.path.join(root, "deploy/grafana/votechain.json")))

    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))
    for p in walk(dash["panels"]):
        for t in p.get("targets", []):
            exprs.append((f"dashboard: {p.get('title')} [{t['refId']}]", t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q)   # Grafana's label_values(expr, label)
            exprs.append((f"dashboard variable ${v['name']}", m.group(1) if m else q))
    return exprs


# Grafana's variables as a dashboard would expand them (as scripts/check-deploy promql does).
GRAFANA = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "${__range}": "1h",
           "$__range_s": "3600", "$__interval_ms": "15000"}


def expand(e):
    for k, v in GRAFANA.items():
        e = e.replace(k, v)
    return re.sub(r"\$\{?\w+\}?", ".*", e)       # template variables: All


def cmd_promql(a):
    load_allow(a.allow)
    prom = a.prom.rstrip("/")

    def query(q):
        url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            return json.load(urllib.request.urlopen(url, timeout=30))
        except urllib.error.HTTPError as h:
            return json.load(h)

    exprs = collect(a.root)
    sel_status = {}       # selector -> (series count or None if error, error)
    rows, failures = [], []
    for where, e in exprs:
        q = expand(e)
        body = query(q)
        parsed = body.get("status") == "success"
        nres = len(body["data"]["result"]) if parsed and body["data"]["resultType"] in ("vector", "matrix") else (1 if parsed else 0)
        if not parsed:
            failures.append(f"{where}: does not parse/evaluate: {body.get('errorType')}: {body.get('error')}\n        {q}")
        try:
            sels = selectors(q)
        except ValueError as ex:
            failures.append(f"{where}: {ex}")
            sels = []
        # Self-check of the extraction: every metric name in the text is one of the selectors' names.
        names = {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s).group(0) for s in sels if not s.startswith("{")}
        mentioned = set(re.findall(r"\b(?:votechain|kube)_[a-z0-9_]+\b|\bup\b", strip_strings(q)))
        if mentioned - names:
            failures.append(f"{where}: selector extraction missed {sorted(mentioned - names)}")
        counts = {"ok": 0, "allowed": 0, "missing": 0}
        for s in sels:
            if s not in sel_status:
                b = query(s)
                if b.get("status") != "success":
                    sel_status[s] = (None, f"{b.get('errorType')}: {b.get('error')}")
                else:
                    sel_status[s] = (len(b["data"]["result"]), None)
            n, err = sel_status[s]
            if n:
                counts["ok"] += 1
            elif allowed(s) and err is None:
                counts["allowed"] += 1
            else:
                counts["missing"] += 1
        rows.append((where, parsed, nres, len(sels), counts))

    # Rules as Prometheus loaded and evaluated them.
    rules = get_json(f"{prom}/api/v1/rules")["data"]["groups"]
    rule_health = {}
    for g in rules:
        for r in g["rules"]:
            rule_health[r.get("health", "?")] = rule_health.get(r.get("health", "?"), 0) + 1
            if r.get("health") == "err":
                failures.append(f"rule {r['name']} (group {g['name']}): evaluation error: {r.get('lastError')}")
    n_rules = sum(len(g["rules"]) for g in rules)
    n_rules_files = sum(1 for w, _ in exprs if not w.startswith("dashboard"))
    if n_rules != n_rules_files:
        failures.append(f"Prometheus loaded {n_rules} rules, the rule files hold {n_rules_files}")
    up = query('up{job="votechain-local"}')
    up_ok = up.get("status") == "success" and [x["value"][1] for x in up["data"]["result"]] == ["1"]
    if not up_ok:
        failures.append(f"the dev target (job votechain-local) is not up: {up.get('data')}")

    # ── tables
    w = max(len(r[0]) for r in rows)
    log(f"\n   {'expression':{w}}  parses  series  selectors: ok/allowed/MISSING")
    for where, parsed, nres, nsel, c in rows:
        mark = "" if parsed and not c["missing"] else "   <-- FAIL"
        log(f"   {where:{w}}  {'yes' if parsed else 'NO ':6}  {nres:6}  {nsel:2}: {c['ok']}/{c['allowed']}/{c['missing']}{mark}")
    log(f"\n   {'selector':100}  series  status")
    n_missing = 0
    for s in sorted(sel_status):
        n, err = sel_status[s]
        if n:
            st = "ok"
        elif err:
            st = f"ERROR {err}"
        elif allowed(s):
            st = "absent, allowed"
        else:
            st = "MISSING"
            n_missing += 1
        if err or st == "MISSING":
            failures.append(f"selector {s}: {st}")
        log(f"   {s:100}  {n if n is not None else '-':>6}  {st}")
    present_allowed = sorted(s for s, (n, _) in sel_status.items() if n and allowed(s))
    if present_allowed:
        log(f"   (allow-listed but present in this run: {', '.join(present_allowed)})")
    log(f"\n   rules loaded by Prometheus: {n_rules} ({', '.join(f'{k} {v}' for k, v in sorted(rule_health.items()))}); "
        f"target up: {'yes' if up_ok else 'NO'}")
    n_parse = sum(1 for r in rows if not r[1])
    log(f"   {len(rows)} expressions: {len(rows) - n_parse} parse, {n_parse} do not; {len(sel_status)} distinct selectors: "
        f"{sum(1 for n, _ in sel_status.values() if n)} with series, "
        f"{sum(1 for s, (n, e) in sel_status.items() if not n and not e and allowed(s))} absent and allow-listed, "
        f"{n_missing} missing")
    if a.out:
        json.dump({"rows": [{"where": r[0], "parses": r[1], "series": r[2], "selectors": r[4]} for r in rows],
                   "selectors": {s: v[0] for s, v in sel_status.items()}, "failures": failures},
                  open(a.out, "w"), indent=1)
    for f in failures:
        log(f"   FAIL {f}")
    sys.exit(1 if failures else 0)


def cmd_receipt_page(a):
    """The in-browser receipt check (/verify) on a real receipt of `votechain dev`: a vote
    cast with a known salt; its tlog-proof and the manifest handed to the page through the
    URL fragment (never sent to a server); four cases, each with its verdict; a screenshot
    of the valid one."""
    import base64, urllib.parse, urllib.request, uuid
    vid = str(uuid.uuid4())
    salt = os.urandom(32).hex()
    body = json.dumps({"vote_id": vid, "candidate_id": "bob", "region_id": "east", "salt": salt}).encode()
    req = urllib.request.Request(f"{a.url}/v1/elections/{a.election}/votes", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {a.key}", "Content-Type": "application/json"})
    for attempt in range(20):
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                if r.status == 202:
                    break
        except Exception as e:  # 503: retry with the same vote_id and salt
            log(f"   submit attempt {attempt}: {e}")
            time.sleep(1)
    proof = None
    for _ in range(60):
        try:
            with urllib.request.urlopen(f"{a.url}/v1/elections/{a.election}/votes/{vid}/proof", timeout=10) as r:
                proof = r.read()
                break
        except Exception:
            time.sleep(1)   # 404 until chained, 425 until covered
    if proof is None:
        log("   FAIL no proof within 60 s")
        sys.exit(1)
    with urllib.request.urlopen(f"{a.url}/v1/elections/{a.election}/manifest", timeout=10) as r:
        manifest = r.read()
        served_digest = r.headers.get("Votechain-Manifest-Digest", "")
    # The offline verifier on the same receipt: the manifest's policy, quorum met.
    import tempfile, subprocess
    with tempfile.TemporaryDirectory() as d:
        rp, mp = os.path.join(d, "r.tlog-proof"), os.path.join(d, "m.json")
        open(rp, "wb").write(proof)
        open(mp, "wb").write(manifest)
        out = subprocess.run([a.verifier, "receipt", rp, "--manifest", mp, "--candidate", "bob",
                              "--region", "east", "--salt", salt], capture_output=True, text=True)
    want = "witness quorum met: witness policy: 1 of 1"
    if out.returncode != 0 or want not in out.stdout or "(the manifest's)" not in out.stdout:
        log(f"   FAIL votechain-verify receipt (exit {out.returncode}): {out.stdout}{out.stderr}")
        sys.exit(1)
    log(f"   ok   votechain-verify receipt: {out.stdout.strip()[:160]}")
    b64 = lambda b: base64.b64encode(b).decode()
    other = json.loads(manifest)
    other["log_public_key"] = b64(bytes(32 - 1) + b"\x01")   # a key that did not sign
    # The dev demo's manifest names its witness, quorum 1 (contract v2.1): the page takes
    # the policy from it, and nothing about witnesses is typed in.
    named = json.loads(manifest).get("witnesses", [])
    if a.witness not in named or json.loads(manifest).get("witness_quorum") != 1:
        log(f"   FAIL the manifest does not name the dev witness with quorum 1: {named}")
        sys.exit(1)
    cases = [
        ("valid", proof, manifest, "bob", "VALID. Your ballot is in the log"),
        ("valid, witnessed by the manifest's policy", proof, manifest, "bob", "witness quorum met (1 cosignature(s)): witness policy: 1 of 1"),
        ("wrong choice", proof, manifest, "alice", "step 5"),
        ("bit-flipped receipt", proof.replace(b"index 0", b"index 1", 1) if b"index 0" in proof
         else proof.replace(b"index ", b"index 9", 1), manifest, "bob", "step 2"),
        ("checkpoint signed by another key", proof, json.dumps(other).encode(), "bob", "step 3"),
    ]
    ok = True
    for name, rec, man, cand, want in cases:
        frag = urllib.parse.urlencode({"receipt": b64(rec), "manifest": b64(man),
                                       "candidate": cand, "region": "east", "salt": salt})
        page = argparse.Namespace(**{**vars(a), "url": f"{a.url}/verify#{frag}"})
        page.url = page.url.rstrip("/")
        extra = ["--dump-dom"]
        dom = chromium_at(page, extra)
        m = re.search(r'<div id="verdict"[^>]*>(.*?)</div>', dom, re.S)
        verdict = html.unescape(m.group(1)) if m else "(no verdict)"
        good = want in verdict
        if name == "valid" and f"manifest digest {served_digest}" not in dom:
            log(f"   FAIL the page's manifest digest is not the served {served_digest!r} (contract v2.1 digest in JS)")
            good = False
        ok &= good
        log(f"   {'ok  ' if good else 'FAIL'} {name}: {verdict[:140]}")
        if name == "valid" and a.screenshot:
            os.makedirs(os.path.dirname(os.path.abspath(a.screenshot)), exist_ok=True)
            chromium_at(page, [f"--screenshot={os.path.abspath(a.screenshot)}"])
    sys.exit(0 if ok else 1)


def chromium_at(a, extra, timeout=30):
    """`chromium` on a.url exactly (no trailing slash added)."""
    prof = os.path.join(a.profile, f"p{time.monotonic_ns()}")
    os.makedirs(prof)
    cmd = [a.chromium] + CHROME_FLAGS + [f"--user-data-dir={prof}", f"--virtual-time-budget={a.budget_ms}"] + extra + [a.url]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return out.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("load")
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--election", required=True)
    p.add_argument("--votes", type=int, default=1200)
    p.add_argument("--resubmit-share", type=float, default=0.15)
    p.add_argument("--seconds", type=float, default=40)
    p.add_argument("--grace", type=float, default=45)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--attempts", type=int, default=6)
    p.add_argument("--request-timeout", type=float, default=15)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True)
    p = sub.add_parser("settle")
    p.add_argument("--url", required=True)
    p.add_argument("--election", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--timeout", type=float, default=90)
    p = sub.add_parser("page")
    p.add_argument("--url", required=True)
    p.add_argument("--election", required=True)
    p.add_argument("--chromium", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--attempts", type=int, default=3)
    p.add_argument("--pause", type=float, default=2)
    p.add_argument("--budget-ms", type=int, default=4000)
    p.add_argument("--final", action="store_true", help="load has stopped: page and API must agree exactly")
    p.add_argument("--strict", action="store_true", help="fail even without --final when no attempt matched")
    p.add_argument("--screenshot")
    p = sub.add_parser("promql")
    p.add_argument("--prom", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--allow", required=True, help="allow-list file: `selector :: reason` per line")
    p.add_argument("--out")
    p = sub.add_parser("receipt-page")
    p.add_argument("--url", required=True)
    p.add_argument("--election", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--witness", required=True, help="the dev witness's verifier key (the manifest must name it)")
    p.add_argument("--verifier", required=True, help="the votechain-verify binary")
    p.add_argument("--chromium", required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--budget-ms", type=int, default=4000)
    p.add_argument("--screenshot")
    a = ap.parse_args()
    {"load": cmd_load, "settle": cmd_settle, "page": cmd_page, "promql": cmd_promql,
     "receipt-page": cmd_receipt_page}[a.cmd](a)


if __name__ == "__main__":
    main()
