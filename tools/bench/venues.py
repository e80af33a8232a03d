"""One ``recorder run`` recording a whole simulated universe of six venues at real rates.

    python tools/bench/venues.py [--symbols 5000] [--duration 600] [--warmup S]
                                 [--rate-scale X] [--json]

The simulator (``python -m tools.simulator --source synthetic --universe V=N``, one process
per venue, loopback, ports of their own) lists ``--symbols`` synthetic long-tail instruments
split over binance-spot, bybit, okx, gate, kucoin and phemex (``SYN1USDT``, ``SYN1-USDT``,
``SYN1_USDT``, ``sSYN1USDT``...), plus the six majors Binance spot's synthetic market always
lists (BTCUSDT, ETHUSDT...: a random walk of 10 book changes a second). ONE ``recorder run``
(its TOML: the six venues, ``symbols = "all"``, each venue's trade and top-of-book channel,
``ws_url``/``rest_url`` pointed at its simulator, metrics on, ``durability = "fsync"``)
fetches the lists, subscribes everything and records for ``--duration`` seconds.

Channels (trade, top of book): binance-spot ``trade`` + ``bookTicker``; bybit (spot)
``publicTrade`` + ``orderbook.1``; okx (SPOT) ``trades`` + ``bbo-tbt``; gate (spot)
``spot.trades`` + ``spot.book_ticker``; kucoin ``match`` + ``ticker``; phemex (spot)
``trade`` + ``orderbook`` (Phemex has no top-of-book channel: its book is the nearest).

Rates: each synthetic symbol trades and moves its touch as one long-tail symbol of the real
captures did (``tools.simulator.universe.PROFILES``: Binance spot BLZETH/LRCBTC/NKNUSDT
bookTicker and aggTrade, OKX UNI-USD-SWAP and BTC-USD-220527 tickers and trades, Gate spot
DIS/FAST/NANO/NEO/OMG/ZKS tickers and trades, KuCoin's nine /market/ticker and
/market/match symbols, counted over each whole recording; majors left out). Their mean is
1.59 top-of-book changes and 0.09 trades per symbol per second (a symbol with no trade in
its recording trades at 0.01/s), so 5,000 symbols make about 8,400 frames/s. ``--rate-scale``
multiplies every rate (push harder).

Pool limits: a venue takes its even share of the symbols unless the recorder's own limits
cap it: Phemex allows 5 connections of 20 subscriptions (``recorder.venues.phemex``), 50
symbols with two channels each, so it gets 50 and the rest is spread over the other five.
``venue_symbols`` says what each got.

Figures (JSON keys):

- ``frames``, ``frames_per_s``: data frames journaled (``frame`` records), over the time from
  the first to the last one; per venue in ``by_venue`` (``frames_per_s``, ``connections``,
  ``symbols`` listed and subscribed).
- ``connections``: WebSocket connections the journal holds (a stream each).
- ``frames_missing``: frames the simulators sent (their per-connection counts, read after the
  recorder stopped) minus frames journaled; must be 0. ``per_connection_equal``: within each
  venue the multiset of per-connection sent counts equals the journal's (connections are
  paired by count: the simulator cannot name the recorder's connections). Before the stop
  every simulator goes silent (``/_sim/fault`` ``silence``) and the journal is let catch up,
  so nothing is in flight when SIGTERM arrives.
- ``gaps``: book sequence breaks the daemon acted on (``ticktape_gaps_total``; each one
  resubscribes or refetches a book): the synthetic books chain, so 0.
- ``rss_start_mb``, ``rss_end_mb``, ``rss_max_mb``: the recorder process's VmRSS (its
  committer child process apart: ``committer_rss_end_mb``, mostly the journal's LMDB pages
  it maps, and ``committer_rss_anon_end_mb``, its heap) sampled from /proc; the start is
  the first sample after ``--warmup`` (default: a fifth of the run, at least 10 s: every
  subscription is sent and answered by then). ``rss_growth_mb_per_min``: the least-squares
  slope of VmRSS after the warm-up (flat: about 0; the live projection keeps up to 900 s of
  trades per symbol, so a run shorter than 30 minutes shows some growth by design;
  ``--no-projection`` shows the daemon without it).
- ``recv_to_journal_p99_ms`` (and p50): frame receipt to durable group commit, from the
  daemon's ``ticktape_receive_to_commit_seconds`` histogram between the end of the warm-up
  and the stop, interpolated within its bucket (buckets 0.5, 1, 2.5, 5, 10, 25 ms...).

No baseline: the issue's targets are absolute (every frame journaled, RSS flat). The machine
may be shared: the simulators, the recorder and its committer all want a core.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from recorder.journal import KINDS  # noqa: E402
from tools.bench.recorder import errors, proc_status, spawn, start_simulator, stop  # noqa: E402

VENUES = ("binance-spot", "bybit", "okx", "gate", "kucoin", "phemex")
CHANNELS = {
    "binance-spot": ["trade", "bookTicker"],
    "bybit": ["publicTrade", "orderbook.1"],
    "okx": ["trades", "bbo-tbt"],
    "gate": ["spot.trades", "spot.book_ticker"],
    "kucoin": ["match", "ticker"],
    "phemex": ["trade", "orderbook"],
}
EXTRA_LISTED = {"binance-spot": 6}  # the synthetic Binance market's majors (LISTED_TOO)
FRAME, OPEN = KINDS.index("frame"), KINDS.index("open")  # the journal's kind codes


def capacity(venue: str) -> int | None:
    """The most symbols (two channels each) the recorder's limits let one run record."""
    if venue == "phemex":
        from recorder.venues.phemex import DEFAULT

        return DEFAULT.max_connections * DEFAULT.max_subscriptions_per_connection // len(CHANNELS[venue])
    return None


def split(symbols: int) -> dict[str, int]:
    """``symbols`` synthetic symbols over the venues: even shares, capped venues' rest spread."""
    out: dict[str, int] = {}
    left, open_venues = symbols, list(VENUES)
    while open_venues:
        share, extra = divmod(left, len(open_venues))
        capped = [v for v in open_venues
                  if capacity(v) is not None and share + 1 > capacity(v) - EXTRA_LISTED.get(v, 0)]
        if not capped:
            for i, v in enumerate(open_venues):
                out[v] = share + (1 if i < extra else 0)
            break
        for v in capped:
            out[v] = max(0, capacity(v) - EXTRA_LISTED.get(v, 0))  # type: ignore[operator]
            left -= out[v]
            open_venues.remove(v)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, body: bytes | None = None, timeout: float = 10.0) -> bytes:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read()


def scrape(port: int) -> dict[str, float]:
    """The metrics endpoint's samples: ``name{labels}`` -> value."""
    out = {}
    for line in http(f"http://127.0.0.1:{port}/metrics").decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                continue
    return out


def buckets(samples: dict[str, float], name: str) -> list[tuple[float, float]]:
    """(upper bound s, cumulative count) of a histogram, ascending."""
    out = []
    for key, v in samples.items():
        if key.startswith(name + "_bucket{"):
            le = key.split('le="', 1)[1].split('"', 1)[0]
            out.append((math.inf if le == "+Inf" else float(le), v))
    return sorted(out)


def quantile(q: float, hist: list[tuple[float, float]]) -> float | None:
    """``histogram_quantile``: linear within the bucket holding rank q (None: no samples)."""
    if not hist or hist[-1][1] <= 0:
        return None
    rank = q * hist[-1][1]
    lo_b, lo_c = 0.0, 0.0
    for b, c in hist:
        if c >= rank:
            if math.isinf(b):
                return lo_b
            return lo_b + (b - lo_b) * ((rank - lo_c) / (c - lo_c) if c > lo_c else 1.0)
        lo_b, lo_c = b, c
    return lo_b


def committer_rss(pid: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) in MB of the recorder's children (its committer process): its RSS
    is mostly the journal's LMDB pages it mapped (file pages, page cache), not heap."""
    rss = anon = 0.0
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0, 0.0
    for k in kids:
        st = proc_status(int(k))
        rss += st.get("VmRSS", 0.0)
        anon += st.get("RssAnon", 0.0)
    return rss, anon


def slope_per_min(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 60


def toml(data: Path, log: Path, metrics_port: int, sims: dict[str, tuple[str, str]], *,
         projection: bool = True) -> str:
    lines = ["[recorder]", f'data = "{data}"', 'durability = "fsync"', f'log_file = "{log}"',
             'log_level = "warning"', f"metrics_port = {metrics_port}", "",
             "[compaction]", "enabled = false", "",
             "[projection]", f"enabled = {'true' if projection else 'false'}", ""]
    for v in VENUES:
        ws, rest = sims[v]
        lines += ["[[venue]]", f'venue = "{v}"', 'symbols = "all"',
                  f"channels = {json.dumps(CHANNELS[v])}", f'ws_url = "{ws}"', f'rest_url = "{rest}"', ""]
    return "\n".join(lines)


def journal_counts(data: Path) -> dict[str, list[tuple[str, int]]]:
    """Per venue: (connection, frames journaled) of each connection (a segment per open)."""
    from recorder.journal.reader import JournalReader

    per: dict[tuple[int, int], int] = Counter()
    opens: dict[int, int] = Counter()
    with JournalReader(data) as r:
        streams = r.streams()
        for cols in r.read_columns():
            sids = memoryview(cols.stream).cast("q")
            kinds = memoryview(cols.kind).cast("B")
            for sid, kind in zip(sids, kinds, strict=True):
                if kind == OPEN:
                    opens[sid] += 1
                elif kind == FRAME:
                    per[(sid, opens[sid])] += 1
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for sid, n_open in opens.items():
        info = streams[sid]
        for k in range(1, n_open + 1):
            out[info.venue].append((f"{info.conn}#{k}", per.get((sid, k), 0)))
    return out


def frame_span(data: Path) -> tuple[dict[str, tuple[int, int, int]], int, int]:
    """Per venue (frames, first ts, last ts) of frame records, and the overall first/last ts."""
    from recorder.journal.reader import JournalReader

    out: dict[str, list[int]] = {}
    first = last = 0
    with JournalReader(data) as r:
        venue_of = {sid: s.venue for sid, s in r.streams().items()}
        for cols in r.read_columns():
            sids = memoryview(cols.stream).cast("q")
            kinds = memoryview(cols.kind).cast("B")
            ts = memoryview(cols.ts_ns).cast("q")
            for sid, kind, t in zip(sids, kinds, ts, strict=True):
                if kind != FRAME:
                    continue
                v = out.setdefault(venue_of.get(sid, "?"), [0, t, t])
                v[0] += 1
                v[2] = t
                first = first or t
                last = t
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}, first, last


def run(symbols: int, duration: float, warmup: float, rate_scale: float, say, *,
        projection: bool = True, keep: Path | None = None) -> dict:
    shares = split(symbols)
    work = Path(tempfile.mkdtemp(prefix="bench-venues-"))
    sims: dict[str, tuple] = {}
    proc = None
    samples: list[tuple[float, float, float]] = []
    try:
        for v in VENUES:
            sim, ws, rest = start_simulator("--venue", v, "--universe", f"{v}={shares[v]}",
                                            "--universe-rate-scale", str(rate_scale))
            sims[v] = (sim, ws, rest)
        say(f"simulators up: {', '.join(f'{v} {shares[v]}' for v in VENUES)} synthetic symbols")
        port = free_port()
        cfg = work / "recorder.toml"
        cfg.write_text(toml(work / "data", work / "recorder.log", port,
                            {v: (s[1], s[2]) for v, s in sims.items()}, projection=projection))
        proc = spawn("-m", "recorder.cli", "run", "--config", str(cfg))
        t0 = time.monotonic()
        every = max(0.5, min(5.0, duration / 20))
        at_warm: dict[str, float] | None = None
        while (t := time.monotonic() - t0) < duration and proc.poll() is None:
            time.sleep(min(every, max(0.0, duration - t)))
            st = proc_status(proc.pid)
            if st:
                samples.append((time.monotonic() - t0, st["VmRSS"], st.get("RssAnon", 0.0)))
            if at_warm is None and time.monotonic() - t0 >= warmup:
                try:
                    at_warm = scrape(port)
                except OSError:
                    at_warm = None
            say(f"  t={samples[-1][0] if samples else 0:6.0f}s  rss={samples[-1][1] if samples else 0:7.1f} MB")
        if proc.poll() is not None:
            raise SystemExit(f"bench: the recorder stopped early ({proc.returncode})\n{errors(proc)}\n"
                             + (work / "recorder.log").read_text()[-3000:])
        end = scrape(port)
        committer_mb = committer_rss(proc.pid)
        for _, _, rest in sims.values():  # nothing more goes out; the journal catches up
            http(f"{rest}/_sim/fault", json.dumps({"kind": "silence"}).encode())
        last = -1.0
        for _ in range(60):
            time.sleep(0.5)
            now = scrape(port)
            seq, done = now.get("ticktape_seq_last", 0.0), now.get("ticktape_seq_committed", 0.0)
            if seq == done == last:
                break
            last = seq if seq == done else -1.0
        code = stop(proc, timeout=60)
        if code != 0:
            raise SystemExit(f"bench: the recorder exited {code}\n{errors(proc)}")
        sent: dict[str, list[int]] = {}
        for v, (_, _, rest) in sims.items():
            stats = json.loads(http(f"{rest}/_sim/stats"))
            sent[v] = [c["frame_count"] for c in stats["connections"]]
    finally:
        if proc is not None:
            stop(proc)
        for sim, _, _ in sims.values():
            stop(sim)
    got = journal_counts(work / "data")
    spans, first, last_ts = frame_span(work / "data")
    if keep is not None:
        shutil.copytree(work / "data", keep, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)

    span_s = max((last_ts - first) / 1e9, 1e-9)
    gaps: Counter[str] = Counter()
    for key, value in end.items():
        if key.startswith("ticktape_gaps_total{"):
            gaps[key.split('venue="', 1)[1].split('"', 1)[0]] += int(value)
    by_venue = {}
    missing = 0
    equal = True
    for v in VENUES:
        journaled = sorted(n for _, n in got.get(v, []))
        sent_v = sorted(sent.get(v, []))
        missing += sum(sent_v) - sum(journaled)
        equal = equal and sent_v == journaled
        n, f0, f1 = spans.get(v, (0, 0, 0))
        by_venue[v] = {"frames": n, "frames_per_s": round(n / span_s, 1),
                       "connections": len(got.get(v, [])), "sent": sum(sent_v),
                       "frames_missing": sum(sent_v) - sum(journaled),
                       "per_connection_equal": sent_v == journaled, "gaps": gaps[v],
                       "symbols": shares[v] + EXTRA_LISTED.get(v, 0)}
    warm = [s for s in samples if s[0] >= warmup] or samples
    hist_end = buckets(end, "ticktape_receive_to_commit_seconds")
    hist_warm = dict(buckets(at_warm or {}, "ticktape_receive_to_commit_seconds"))
    hist = [(b, c - hist_warm.get(b, 0.0)) for b, c in hist_end]
    p99, p50 = quantile(0.99, hist), quantile(0.5, hist)
    frames = sum(v["frames"] for v in by_venue.values())
    return {
        "symbols": symbols, "venues": len(VENUES), "duration_s": duration, "warmup_s": warmup,
        "rate_scale": rate_scale, "projection": projection,
        "symbols_recorded": sum(v["symbols"] for v in by_venue.values()),
        "venue_symbols": {v: by_venue[v]["symbols"] for v in VENUES},
        "frames": frames, "frames_per_s": round(frames / span_s, 1),
        "connections": sum(v["connections"] for v in by_venue.values()),
        "frames_missing": missing, "per_connection_equal": equal, "gaps": sum(gaps.values()),
        "rss_start_mb": round(warm[0][1], 1) if warm else None,
        "rss_end_mb": round(samples[-1][1], 1) if samples else None,
        "rss_max_mb": round(max(s[1] for s in samples), 1) if samples else None,
        "rss_anon_end_mb": round(samples[-1][2], 1) if samples else None,
        "rss_growth_mb_per_min": round(slope_per_min([(s[0], s[1]) for s in warm]), 2),
        "committer_rss_end_mb": round(committer_mb[0], 1),
        "committer_rss_anon_end_mb": round(committer_mb[1], 1),
        "recv_to_journal_p50_ms": None if p50 is None else round(p50 * 1000, 3),
        "recv_to_journal_p99_ms": None if p99 is None else round(p99 * 1000, 3),
        "latency_samples": int(hist[-1][1]) if hist else 0,
        "by_venue": by_venue,
    }


def table(res: dict) -> str:
    lines = [f"{res['symbols_recorded']} symbols on {res['venues']} venues, {res['duration_s']:.0f} s "
             f"(rates x{res['rate_scale']:g}): {res['frames']:,} frames, {res['frames_per_s']:,.0f}/s "
             f"on {res['connections']} connections",
             f"{'venue':14s} {'symbols':>8s} {'conns':>6s} {'frames/s':>10s} {'sent':>10s} {'missing':>8s}"]
    for v, d in res["by_venue"].items():
        lines.append(f"{v:14s} {d['symbols']:8d} {d['connections']:6d} {d['frames_per_s']:10,.1f} "
                     f"{d['sent']:10,d} {d['frames_missing']:8d}")
    lines += [f"frames missing: {res['frames_missing']} (per connection equal: {res['per_connection_equal']}); "
              f"book gaps: {res['gaps']}",
              f"RSS: {res['rss_start_mb']} MB after warm-up -> {res['rss_end_mb']} MB (max {res['rss_max_mb']}, "
              f"{res['rss_growth_mb_per_min']:+.2f} MB/min); committer {res['committer_rss_end_mb']} MB "
              f"({res['committer_rss_anon_end_mb']} MB anonymous)",
              f"receive -> journal: p50 {res['recv_to_journal_p50_ms']} ms, p99 {res['recv_to_journal_p99_ms']} ms "
              f"({res['latency_samples']} samples after warm-up)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=5000, help="synthetic symbols over the six venues")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of recording")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before RSS and latency count (default: a fifth, at least 10)")
    ap.add_argument("--rate-scale", type=float, default=1.0, help="factor on the measured rates")
    ap.add_argument("--no-projection", action="store_true",
                    help="run the daemon without its live projection (to see whose memory grows)")
    ap.add_argument("--keep", type=Path, default=None, help="copy the journal here afterwards")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    a = ap.parse_args(argv)
    if a.symbols < len(VENUES) or a.duration <= 0 or a.rate_scale <= 0:
        print("error: --symbols >= 6, --duration > 0 and --rate-scale > 0", file=sys.stderr)
        return 2
    warmup = a.warmup if a.warmup is not None else min(a.duration / 2, max(10.0, a.duration / 5))
    say = (lambda s: print(s, file=sys.stderr, flush=True)) if a.json else (lambda s: print(s, flush=True))
    res = run(a.symbols, a.duration, warmup, a.rate_scale, say, projection=not a.no_projection,
              keep=a.keep)
    if a.json:
        print(json.dumps(res))
    else:
        print(table(res))
    return 0 if res["frames_missing"] == 0 and res["per_connection_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
