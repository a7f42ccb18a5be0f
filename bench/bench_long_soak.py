"""Long soak: one long-lived ``streamlit run app.py`` server, thousands of distinct sentences,
latency per block of sentences beside the machine's other load and the server's memory.

One server (``soak.start_server``: its output goes to a log file, so a chatty server can never
block on a full pipe over a long run) and Debian's headless Chromium with one or more sessions
(tabs, each its own Streamlit session), driven as in ``bench_browser.py``: each sentence is typed
into the sidebar's text area and submitted with Control+Enter on the attention page, sessions
taking turns. A sentence is done when the page is idle, every chart has painted and the heatmap
and head view show the sentence's marker word (``bench_browser.submit``). *Server* is the DevTools
timestamp of the page's first WebSocket frame to that of the ``script_finished`` frame (the model
run and the page script, unaffected by the browser); *painted* is keydown -> last chart painted.

Every sentence is new to the server: 8 one-token words drawn from a fixed paragraph, a marker word
at token 9 (consecutive sentences never share it), 6 more words, 17 tokens with ``[CLS]`` and
``[SEP]``; none repeats (checked). Per block: median and p90 of both times, other processes'
share of the CPU while the block ran, two ways (``OtherLoad``: processes alive through the block
outside this script's tree; ``MachineLoad``: the machine's total minus this script's tree, which
also counts short-lived processes; blocks are compared on the latter), the 1-minute load average
at the block's end, and the server's ``VmRSS``. The goal: the last
block's median server time within 1.2x of the first block's at equal load; blocks whose other
load differs much are not comparable, so the ratio is also given against the first block of
similar load.

Run from the repository root: ``python bench/bench_long_soak.py [--quick] [--sentences N]
[--block N] [--sessions N] [--minutes M]``.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import (  # noqa: E402
    OtherLoad,
    _busy_jiffies,
    _descendants,
    _processes,
    generated_block,
    median,
    table,
)
from bench_browser import (  # noqa: E402
    MARKER_POSITION,
    PARAGRAPH,
    Tab,
    Texts,
    chromium,
    software,
    submit,
)
from soak import start_server  # noqa: E402

MIB = 2**20
GOAL_RATIO = 1.2
SIMILAR_LOAD = 0.10  # blocks whose other load differs by less than this are compared
AFTER = 6  # words after the marker
SIZE = 1 + (MARKER_POSITION - 1) + 1 + AFTER + 1  # [CLS] 8 words, marker, 6 words, [SEP]


class Sentences:
    """Distinct sentences of ``SIZE`` tokens with a marker at ``MARKER_POSITION``; the marker
    changes from one sentence to the next."""

    def __init__(self, texts: Texts, seed: int = 0) -> None:
        self.texts = texts
        self.rng = random.Random(seed)
        words = {w.strip(".,").lower() for w in PARAGRAPH.split()}
        tokenize = texts.encoder.tokenizer.tokenize
        markers = set(texts.markers)
        self.words = sorted(w for w in words if tokenize(w) == [w] and w not in markers)
        self.seen: set[str] = set()
        self.used = 0

    def make(self) -> tuple[str, str]:
        marker = self.texts.markers[self.used % len(self.texts.markers)]
        self.used += 1
        while True:
            before = self.rng.choices(self.words, k=MARKER_POSITION - 1)
            after = self.rng.choices(self.words, k=AFTER)
            text = " ".join([*before, marker, *after])
            if text not in self.seen:
                break
        self.seen.add(text)
        count, tokens = self.texts.count(text)
        if count != SIZE or tokens[MARKER_POSITION] != marker:
            raise RuntimeError(f"not a {SIZE}-token sentence with its marker at 9: {tokens}")
        return text, marker


class MachineLoad:
    """Like ``OtherLoad``, but from the machine's total (``/proc/stat``) minus this script's
    tree, so that processes which start and end within the block (test runs, short CLI calls)
    count too; ``OtherLoad`` only sees processes alive at both ends. ``share`` is set on exit."""

    share = float("nan")

    @staticmethod
    def _ours() -> int:
        procs = _processes()
        ours = _descendants({pid: ppid for pid, (ppid, _) in procs.items()})
        return sum(ticks for pid, (_, ticks) in procs.items() if pid in ours)

    def __enter__(self) -> MachineLoad:
        self.start, self.busy, self.ours = time.perf_counter(), _busy_jiffies()[0], self._ours()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.start
        used = (_busy_jiffies()[0] - self.busy) - (self._ours() - self.ours)
        self.share = max(0, used) / (wall * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1))


def status_mib(pid: int, field: str) -> float:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``) in MiB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def loadavg() -> float:
    with open("/proc/loadavg", encoding="utf-8") as f:
        return float(f.read().split()[0])


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def soak(sentences: int, block: int, sessions: int, minutes: float) -> dict:
    texts = Texts()
    make = Sentences(texts)
    log = Path(tempfile.gettempdir()) / f"long-soak-server-{os.getpid()}.log"
    proc, url = start_server(log)
    blocks: list[dict] = []
    errors: list[str] = []
    stopped = ""
    deadline = time.time() + minutes * 60
    try:
        with chromium() as browser:
            tabs = [Tab(browser) for _ in range(sessions)]
            for tab in tabs:
                tab.page.goto(url)
                tab.wait(0, 3)
            # one untimed sentence per session: the first run of a session warms its caches
            for tab in tabs:
                submit(tab, *make.make(), SIZE)
            start_rss = status_mib(proc.pid, "VmRSS")
            done = 0
            while done < sentences and not stopped:
                server, painted, attempted = [], [], 0
                started = time.perf_counter()
                with OtherLoad() as load, MachineLoad() as machine:
                    for i in range(min(block, sentences - done)):
                        tab = tabs[(done + i) % sessions]
                        attempted += 1
                        try:
                            r = submit(tab, *make.make(), SIZE)
                        except Exception as err:  # noqa: BLE001 - counted, reported, page reloaded
                            errors.append(f"sentence {done + i}: {type(err).__name__}: {err}"[:300])
                            tab.page.reload()
                            tab.wait(tab.reset(), 3)
                            continue
                        server.append(r["server"])
                        painted.append((r["painted"] - r["key"]) / 1e3)
                        if time.time() > deadline:
                            stopped = f"stopped at {minutes:g} min"
                            break
                done += attempted
                blocks.append(
                    {
                        "range": f"{done - attempted + 1}-{done}",
                        "sentences": len(server),
                        "wall": time.perf_counter() - started,
                        "server": server,
                        "painted": painted,
                        "load": load.share,
                        "machine": machine.share,
                        "loadavg": loadavg(),
                        "rss": status_mib(proc.pid, "VmRSS"),
                    }
                )
                b = blocks[-1]
                print(
                    f"  block {len(blocks)}: {b['sentences']} sentences in {b['wall']:.0f} s, "
                    f"server median {median(server):.3f} s p90 {p90(server):.3f}, painted "
                    f"median {median(painted):.3f} s, other load {b['load']:.0%} / "
                    f"{b['machine']:.0%}, loadavg "
                    f"{b['loadavg']:.2f}, RSS {b['rss']:.0f} MiB",
                    flush=True,
                )
            peak = status_mib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return {
        "blocks": blocks,
        "errors": errors,
        "start_rss": start_rss,
        "peak": peak,
        "stopped": stopped,
        "log": log,
    }


def report(r: dict, block: int, sessions: int) -> str:
    blocks = r["blocks"]
    rows, first = [], 0
    for i, b in enumerate(blocks):
        rows.append(
            [
                f"{i + 1}",
                b["range"],
                f"{median(b['server']):.3f}",
                f"{p90(b['server']):.3f}",
                f"{median(b['painted']):.3f}",
                f"{p90(b['painted']):.3f}",
                f"{b['load']:.0%}",
                f"{b['machine']:.0%}",
                f"{b['loadavg']:.2f}",
                f"{b['rss']:.0f}",
            ]
        )
    last = blocks[-1]
    ratio = median(last["server"]) / median(blocks[first]["server"])
    similar = [
        i for i, b in enumerate(blocks[:-1]) if abs(b["machine"] - last["machine"]) < SIMILAR_LOAD
    ]
    total = sum(b["sentences"] for b in blocks)
    lines = [
        f"- model: the default (all-MiniLM-L6-v2), CPU; {total} distinct sentences of {SIZE} "
        f"tokens, {sessions} session(s) taking turns, blocks of {block}"
        + (f" ({r['stopped']})" if r["stopped"] else ""),
        table(
            [
                "block",
                "sentences",
                "server median (s)",
                "server p90 (s)",
                "painted median (s)",
                "painted p90 (s)",
                "other processes' CPU (OtherLoad)",
                "machine minus ours",
                "load average (1 min)",
                "server RSS at end (MiB)",
            ],
            rows,
        ),
        f"- server RSS after the warm-up {r['start_rss']:.0f} MiB, at the end "
        f"{last['rss']:.0f} MiB, peak {r['peak']:.0f} MiB; errors: {len(r['errors'])}",
        f"- last block / first block, median server time: {ratio:.2f}x "
        f"(other load {last['machine']:.0%} vs {blocks[0]['machine']:.0%}); "
        f"goal <= {GOAL_RATIO}x at equal load: "
        + (
            ("met" if ratio <= GOAL_RATIO else "**missed**")
            if abs(last["machine"] - blocks[0]["machine"]) < SIMILAR_LOAD
            else "loads differ, see the next line"
        ),
    ]
    if similar:
        j = similar[0]
        ratio_j = median(last["server"]) / median(blocks[j]["server"])
        lines.append(
            f"- last block / block {j + 1}, the first at similar other load "
            f"({blocks[j]['machine']:.0%}): {ratio_j:.2f}x: "
            + ("met" if ratio_j <= GOAL_RATIO else "**missed**")
        )
    else:
        lines.append("- no earlier block ran at an other load within 10 points of the last")
    for e in r["errors"][:5]:
        lines.append(f"- error: {e}")
    return "\n\n".join([lines[0], lines[1], "\n".join(lines[2:])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 sentences in blocks of 50")
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--block", type=int, default=250)
    parser.add_argument("--sessions", type=int, default=1, help="tabs taking turns")
    parser.add_argument("--minutes", type=float, default=45.0, help="stop after this long")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.block = 300, 50
    r = soak(args.sentences, args.block, args.sessions, args.minutes)
    title = "Long soak: latency per block of sentences on one long-lived server"
    print(generated_block(title, report(r, args.block, args.sessions), *software()))


if __name__ == "__main__":
    main()
