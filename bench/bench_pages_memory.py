"""Server memory and responsiveness of the pages that run the model on many texts: Contrast and
the probe, each with the worst input it accepts.

A real ``streamlit run app.py`` server per scenario (``tests/drivers.py``) and Debian's headless
Chromium, driven as in ``bench_browser.py`` (its ``Tab`` recorder: a rerun's *server* time is
the DevTools timestamp of the page's first WebSocket frame to that of the ``script_finished``
frame; *painted* adds the browser's part). The server's peak resident memory is ``VmHWM`` of its
process (``/proc/<pid>/status``) at the end of the scenario: the whole life of a fresh server,
model loading included; *ready* is its ``VmRSS`` once the first page has painted. The probe runs
in the server's worker process (``viz.background.Worker``): its ``VmHWM`` is read beside the
server's, and the memory goal is judged on the two together.

1. Contrast, one session: 20 sentences of 510 tokens each (``[CLS]``/``[SEP]`` included,
   checked with the bundled tokenizer), all sharing "bank", tagged river/money in turn. *First
   run*: Control+Enter in the sentences box -> both charts painted. *Cached rerun*: the sidebar's
   image-format radio flipped (a rerun that changes nothing the page computes), median of 3.
2. Contrast, two sessions at once, each with its own 20 sentences of 510 tokens.
3. The probe, the largest upload: 5,000 rows of 482 tokens (single letters, two labels),
   4.8 MB, under both the uploader's and the probe's limit. *Upload*: file chosen -> page idle.
   *Probe run*: the Run button -> chart painted (or how long it ran before the bench gave up:
   ``--probe-timeout``). Meanwhile a second session, on the attention page, submits new
   16-token sentences one after another (``bench_browser.Texts``): its server time for each is
   the latency asked about, against the same session's median before the probe started.
   *Cached rerun* of the probe page as in 1.

Each cached rerun takes turns with the same rerun of the attention page (the default sentence)
in another session of the same server: on a shared machine the absolute times follow the other
processes' load, the ratio much less.

Run from the repository root: ``python bench/bench_pages_memory.py [--quick]
[--probe-timeout S] [--only contrast|probe]``.
"""

from __future__ import annotations

import argparse
import os
import time
import urllib.parse

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import OtherLoad, generated_block, median, table  # noqa: E402
from bench_browser import Tab, Texts, chromium, software, streamlit_server, submit  # noqa: E402
from bench_long_soak import MachineLoad, status_mib  # noqa: E402

MIB = 2**20
SENTENCES, SENTENCE_TOKENS = 20, 510
ROWS, ROW_LETTERS = 5000, 480
GOAL_PEAK_MIB = 1.5 * 1024
GOAL_RERUN_S = 1.0
GOAL_LATENCY_S = 0.5
RERUNS = 3
WORDS = (
    "the old man walked slowly along the quiet road toward the small village near river in "
    "morning children went to school and shops opened their doors a woman sold fresh bread warm "
    "soup at corner of market when rain began people ran under trees waited for sun come back"
).split()
TIMEOUT_MS = 900_000


# ---------------------------------------------------------------- the server process
def server_pid(url: str) -> int:
    """The pid of the ``streamlit run`` process listening on ``url``'s port."""
    port = str(urllib.parse.urlparse(url).port)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "streamlit" in " ".join(args) and "--server.port" in args:
            if args[args.index("--server.port") + 1] == port:
                return int(name)
    raise RuntimeError(f"no streamlit process on port {port}")


# ---------------------------------------------------------------- the inputs
def worker_pid(server: int) -> int | None:
    """The pid of the server's worker process (``python -m viz.background``), if it has one."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == server and "viz.background" in args:
            return int(name)
    return None


def contrast_text(tokenizer, seed: int) -> str:
    """``SENTENCES`` lines of ``SENTENCE_TOKENS`` tokens each, "bank" the fourth word, with a
    sense tag after a ``|``."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(SENTENCES):
        words = list(rng.choice(WORDS, SENTENCE_TOKENS - 2))
        words[3] = "bank"
        sentence = " ".join(words)
        count = len(tokenizer(sentence)["input_ids"])
        if count != SENTENCE_TOKENS:
            raise RuntimeError(f"a contrast sentence of {count} tokens, not {SENTENCE_TOKENS}")
        lines.append(f"{sentence} | {'river' if i % 2 else 'money'}")
    return "\n".join(lines)


def probe_csv(tokenizer) -> bytes:
    """``ROWS`` rows of ``ROW_LETTERS`` single letters (one token each) and a label; the two
    labels draw their letters from slightly different distributions."""
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    rows = ["text,label"]
    for i in range(ROWS):
        label = ("pos", "neg")[i % 2]
        weights = np.ones(26) + (np.arange(26) < 13) * (0.3 if label == "pos" else 0.0)
        rows.append(
            " ".join(rng.choice(letters, ROW_LETTERS, p=weights / weights.sum())) + f",{label}"
        )
    data = ("\n".join(rows) + "\n").encode()
    first = rows[1].rsplit(",", 1)[0]
    if len(tokenizer(first)["input_ids"]) != ROW_LETTERS + 2 or len(data) >= 5_000_000:
        raise RuntimeError("the probe CSV is not what the benchmark says")
    return data


# ---------------------------------------------------------------- browser steps
def wait(tab: Tab, since: float, charts: int, timeout_ms: int = TIMEOUT_MS) -> dict | None:
    """As ``Tab.wait`` with its own timeout; None when the page was not ready in time (what it
    showed is printed)."""
    options = {"since": since, "charts": charts, "texts": [], "timeout": timeout_ms}
    try:
        result = tab.page.evaluate("(o) => window.__bench.wait(o)", options)
    except Exception as err:  # noqa: BLE001 - timed out (or the page is gone): reported as such
        print(f"  not ready: {str(err)[:600]}", flush=True)
        return None
    sent = next((t for t, kind in tab.wire if kind == "sent"), None)
    done = [t for t, kind in tab.wire if kind == "finished" and sent and t >= sent]
    result["server"] = done[-1] - sent if done else float("nan")
    return result


def ready_now(tab: Tab, since: float, charts: int) -> bool:
    return bool(
        tab.page.evaluate("(o) => window.__bench.ready(o)", {"since": since, "charts": charts})
    )


def painted_s(result: dict) -> float:
    return (result["painted"] - (result["key"] or result["running"] or result["finished"])) / 1e3


def flip_format(tab: Tab, charts: int) -> dict:
    """A rerun that changes nothing a page computes: the sidebar's image format, png <-> svg."""
    box = tab.page.locator(".st-key-image_format")
    now = "svg" if box.locator("input[type=radio]").nth(0).is_checked() else "png"
    since = tab.reset()
    box.get_by_text(now, exact=True).click()
    started = time.perf_counter()
    result = wait(tab, since, charts)
    if result is None:
        raise RuntimeError("a rerun did not finish")
    result["wall"] = time.perf_counter() - started
    return result


def open_tab(browser, url: str, charts: int) -> Tab:
    tab = Tab(browser)
    tab.page.goto(url)
    if wait(tab, 0, charts) is None:
        raise RuntimeError(f"{url} did not paint")
    return tab


# ---------------------------------------------------------------- scenarios
def contrast(browser, tokenizer, sessions: int) -> dict:
    with streamlit_server() as url:
        pid = server_pid(url)
        tabs = [open_tab(browser, f"{url}/?view=contrast", 2) for _ in range(sessions)]
        base = open_tab(browser, url, 3)
        ready = status_mib(pid, "VmRSS")
        since = []
        for i, tab in enumerate(tabs):
            box = tab.page.locator(".st-key-contrast_text textarea")
            box.fill(contrast_text(tokenizer, seed=i))
            since.append(tab.reset())
        started = time.perf_counter()
        with OtherLoad() as load, MachineLoad() as machine:
            for tab in tabs:
                tab.page.locator(".st-key-contrast_text textarea").press("Control+Enter")
            first = [wait(tab, s, 2) for tab, s in zip(tabs, since)]
            first_wall = time.perf_counter() - started
            if any(r is None for r in first):
                raise RuntimeError("the contrast page did not paint")
            reruns, baseline = [], []
            for _ in range(RERUNS):  # taking turns, so that both see the same load
                reruns.append(flip_format(tabs[0], 2))
                baseline.append(flip_format(base, 3))
        alerts = tabs[0].page.locator('[data-testid="stAlert"]').all_inner_texts()
        peak = status_mib(pid, "VmHWM")
        for tab in [*tabs, base]:  # a tab left open keeps reconnecting to the stopped server
            tab.close()
    return {
        "ready": ready,
        "peak": peak,
        "first": first_wall,
        "first_server": max(r["server"] for r in first),
        "rerun_server": median([r["server"] for r in reruns]),
        "rerun_painted": median([painted_s(r) for r in reruns]),
        "baseline_server": median([r["server"] for r in baseline]),
        "alerts": [a.replace("\n", " ")[:160] for a in alerts],
        "load": load.share,
        "machine": machine.share,
    }


def probe(browser, tokenizer, texts: Texts, samples: int, timeout_s: float) -> dict:
    data = probe_csv(tokenizer)
    with streamlit_server() as url:
        pid = server_pid(url)
        other = open_tab(browser, url, 3)
        page = open_tab(browser, f"{url}/?view=probe&probe_source=upload", 0)
        ready = status_mib(pid, "VmRSS")
        idle = [submit(other, *texts.make(16), 16)["server"] for _ in range(samples)]
        since = page.reset()
        page.page.locator(".st-key-probe_file input[type=file]").set_input_files(
            files=[{"name": "worst.csv", "mimeType": "text/csv", "buffer": data}]
        )
        upload = wait(page, since, 0)
        alerts = page.page.locator('[data-testid="stAlert"]').all_inner_texts()
        since = page.reset()
        started = time.perf_counter()
        page.page.locator(".st-key-probe_run button").click()
        during = []
        with OtherLoad() as load, MachineLoad() as during_machine:
            while len(during) < samples and time.perf_counter() - started < timeout_s:
                if ready_now(page, since, 1):
                    break
                during.append(submit(other, *texts.make(16), 16)["server"])
        left = max(1.0, timeout_s - (time.perf_counter() - started))
        done = wait(page, since, 1, int(left * 1000))
        run = time.perf_counter() - started
        reruns, baseline = [], []
        with OtherLoad() as rerun_load, MachineLoad() as machine:
            for _ in range(RERUNS if done else 0):  # taking turns, as for Contrast
                reruns.append(flip_format(page, 1))
                baseline.append(flip_format(other, 3))
        peak = status_mib(pid, "VmHWM")
        worker = worker_pid(pid)
        worker_peak = status_mib(worker, "VmHWM") if worker else 0.0
        other.close()
        page.close()
    return {
        "ready": ready,
        "peak": peak,
        "worker_peak": worker_peak,
        "upload": upload["server"] if upload else float("nan"),
        "run": run,
        "finished": done is not None,
        "idle": idle,
        "during": during,
        "during_load": load.share,
        "during_machine": during_machine.share,
        "load": rerun_load.share,
        "machine": machine.share,
        "rerun_server": median([r["server"] for r in reruns]) if reruns else float("nan"),
        "rerun_painted": median([painted_s(r) for r in reruns]) if reruns else float("nan"),
        "baseline_server": median([r["server"] for r in baseline]) if baseline else float("nan"),
        "alerts": [a.replace("\n", " ")[:200] for a in alerts],
    }


# ---------------------------------------------------------------- report
def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 latency samples instead of 7")
    parser.add_argument("--probe-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--only", choices=("contrast", "probe"))
    args = parser.parse_args()
    samples = 3 if args.quick else 7
    texts = Texts()
    tokenizer = texts.encoder.tokenizer
    results: dict = {}
    with chromium() as browser:
        if args.only in (None, "contrast"):
            for sessions in (1, 2):
                results[f"contrast x{sessions}"] = contrast(browser, tokenizer, sessions)
                print(f"  contrast, {sessions} session(s): {results[f'contrast x{sessions}']}")
        if args.only in (None, "probe"):
            results["probe"] = probe(browser, tokenizer, texts, samples, args.probe_timeout)
            print(f"  probe: {results['probe']}", flush=True)

    rows, goals = [], []
    for name, r in results.items():
        if name.startswith("contrast"):
            first = f"{r['first']:.1f} (server {r['first_server']:.1f})"
        else:
            state = (
                ""
                if r["finished"]
                else f" (**not finished**, stopped at {args.probe_timeout:.0f} s)"
            )
            first = f"{r['run']:.1f}{state}"
        rows.append(
            [
                name,
                f"{r['ready']:.0f}",
                f"{r['peak']:.0f}",
                f"{r['worker_peak']:.0f}" if r.get("worker_peak") else "-",
                first,
                f"{r['rerun_server']:.2f}",
                f"{r['rerun_painted']:.2f}",
                f"{r['baseline_server']:.2f}",
                f"{r['load']:.0%} / {r['machine']:.0%}",
            ]
        )
        peak = r["peak"] + r.get("worker_peak", 0.0)
        both = " (server and worker)" if r.get("worker_peak") else ""
        goals.append(
            f"- {name}: peak {peak:.0f} MiB{both} < {GOAL_PEAK_MIB:.0f} MiB: "
            f"{verdict(peak < GOAL_PEAK_MIB)}; cached rerun {r['rerun_server']:.2f} s < "
            f"{GOAL_RERUN_S:.0f} s: {verdict(r['rerun_server'] < GOAL_RERUN_S)} "
            f"({r['rerun_server'] / r['baseline_server']:.1f}x the attention page's)"
        )
    memory = table(
        [
            "scenario",
            "RSS ready (MiB)",
            "peak RSS (MiB)",
            "worker's peak RSS (MiB)",
            "first run / probe run (s)",
            "cached rerun, server (s)",
            "cached rerun, painted (s)",
            "attention page's cached rerun, same server, server (s)",
            "other processes' CPU (OtherLoad / machine minus ours)",
        ],
        rows,
    )
    parts = [
        "- model: the default (all-MiniLM-L6-v2), CPU; contrast: 20 sentences x 510 tokens; "
        f"probe: {ROWS} rows x {ROW_LETTERS + 2} tokens",
        memory,
        "\n".join(goals),
    ]
    if "probe" in results:
        p = results["probe"]
        latency = table(
            ["second session, new 16-token sentence", "samples", "median server (s)", "max (s)"],
            [
                [
                    "before the probe",
                    len(p["idle"]),
                    f"{median(p['idle']):.2f}",
                    f"{max(p['idle']):.2f}",
                ],
                [
                    "while the probe runs",
                    len(p["during"]),
                    f"{median(p['during']):.2f}" if p["during"] else "-",
                    f"{max(p['during']):.2f}" if p["during"] else "-",
                ],
            ],
        )
        during = median(p["during"]) if p["during"] else float("nan")
        parts += [
            latency,
            f"- latency while the probe runs {during:.2f} s < {GOAL_LATENCY_S} s: "
            f"{verdict(during < GOAL_LATENCY_S)}; {during / median(p['idle']):.1f}x the same "
            f"session's median before the probe (other processes used {p['during_load']:.0%} "
            f"(OtherLoad) / {p['during_machine']:.0%} (machine minus ours) of the CPU meanwhile: "
            "on a busy machine both medians are inflated, the ratio less)",
            "- what the probe page said about the upload: "
            + (" / ".join(p["alerts"]) or "nothing"),
        ]
    title = "Pages that trace many texts: server memory and responsiveness"
    print(generated_block(title, "\n\n".join(parts), *software()))


if __name__ == "__main__":
    main()
