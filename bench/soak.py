"""Soak: N concurrent browser sessions drive one `streamlit run app.py` server for a while.

Each session (its own browser context, so its own Streamlit session) loops: type a new sentence
of 10-120 words, submit, wait until the heatmap shows the sentence's marker word and every chart
has painted. Reported: completed rounds, errors (timeouts, error boxes, exceptions; goal 0),
p50/p95 time from submit to charts, and the server's peak resident memory (VmHWM), sampled
from /proc. Bounded: each session stops --minutes after its first page painted; then the
server is killed.

    python bench/soak.py --sessions 4 --minutes 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import statistics
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import ROOT, OtherLoad, browser_harness, report, table

_harness = browser_harness()
CHROMIUM, CHROMIUM_ARGS = _harness.CHROMIUM, _harness.CHROMIUM_ARGS
free_port, streamlit_command = _harness.free_port, _harness.streamlit_command

WORDS = (
    "river money bank water school music table window garden winter coffee paper story "
    "light green train doctor market summer friend mountain letter island dinner"
).split()
GOAL_P50 = 2.0  # seconds, submit -> charts at the median, 8 sessions on this 2-CPU machine
MARKERS = ("guitar", "elephant", "violin", "pepper", "rocket", "tiger", "lemon", "castle")
PAINTED = """(m) => {
    const app = document.querySelector('[data-testid="stApp"]');
    // Plotly's charts and the attention page's canvases (viz/ui/canvas), in page order
    const p = document.querySelector('.js-plotly-plot, .viz-chart');
    const painted = [...document.querySelectorAll('.js-plotly-plot, .viz-chart')]
        .filter((q) => q.querySelector('.main-svg') || q.dataset.painted).length;
    return app && app.dataset.testScriptState === 'notRunning'
        && p && p.textContent.includes(m) && painted >= 3;
}"""


def start_server(log: Path, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` of the source tree ``root`` (this repository, or a revision of it
    extracted by ``extracted``, its ``viz`` ahead of the installed one)."""
    port = free_port()
    command = [str(root / "app.py") if a == str(ROOT / "app.py") else a
               for a in streamlit_command(port)]  # fmt: skip
    paths = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        command,
        cwd=root,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": paths},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the server did not start")


def peak_rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024


async def session(
    browser, url: str, index: int, minutes: float, times: list[float], errors: list[str]
) -> None:
    rng = random.Random(index)
    page = await (await browser.new_context(viewport={"width": 1300, "height": 1200})).new_page()
    await page.goto(url, timeout=180_000)  # 8 sessions starting at once on 2 shared CPUs
    await page.wait_for_function(PAINTED, arg="bank", timeout=300_000)
    deadline = time.time() + minutes * 60  # the soak's time runs from the first painted page
    round_ = 0
    while time.time() < deadline:
        round_ += 1
        marker = MARKERS[(index + round_) % len(MARKERS)]
        words = [rng.choice(WORDS) for _ in range(rng.randint(10, 120))]
        # three times at the start: long inputs thin the tick labels to every 2nd or 3rd token
        text = f"{marker} {marker} {marker} " + " ".join(words) + f" session {index}."
        box = page.get_by_label("Sentence", exact=True)
        await box.fill(text)
        start = time.perf_counter()
        await box.press("Control+Enter")
        try:
            # consecutive rounds use different markers: the old page never matches
            await page.wait_for_function(PAINTED, arg=marker, timeout=60_000)
        except Exception as err:  # noqa: BLE001 - every failure is counted and reported
            errors.append(
                f"{time.strftime('%H:%M:%S')} session {index} round {round_}: "
                f"{type(err).__name__} ({len(text.split())} words)"
            )
            continue
        times.append(time.perf_counter() - start)
        bad = await page.locator(
            '[data-testid="stException"], [data-testid="stAlertContentError"]'
        ).count()
        if bad:
            errors.append(
                f"{time.strftime('%H:%M:%S')} session {index} round {round_}: error box on the page"
            )


@contextlib.contextmanager
def extracted(revision: str | None):
    """The files of git ``revision`` in a temporary folder (``git archive``; the repository is
    left as it is), or this repository's working tree when ``revision`` is None."""
    if revision is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        archive = subprocess.run(
            ["git", "archive", revision], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


async def run(sessions: int, minutes: float, root: Path = ROOT) -> dict[str, float]:
    from playwright.async_api import async_playwright

    log = Path(tempfile.gettempdir()) / f"soak-server-{os.getpid()}.log"
    proc, url = start_server(log, root)
    times: list[float] = []
    errors: list[str] = []
    peak = 0
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            done = asyncio.Event()

            async def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, peak_rss_mb(proc.pid))
                    await asyncio.sleep(1)

            async def sessions_then_stop() -> None:
                try:
                    await asyncio.gather(
                        *(session(browser, url, i, minutes, times, errors) for i in range(sessions))
                    )
                finally:
                    done.set()

            await asyncio.gather(sample(), sessions_then_stop())
            await browser.close()
        peak = max(peak, peak_rss_mb(proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    q = statistics.quantiles(times, n=20) if len(times) >= 2 else [float("nan")] * 19
    for line in errors[:10]:
        print("error:", line)
    if errors:
        print(f"server output: {log}")
    return {
        "sessions": sessions,
        "minutes": minutes,
        "rounds": len(times),
        "errors": len(errors),
        "p50_s": statistics.median(times) if times else float("nan"),
        "p95_s": q[18],
        "peak_rss_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument(
        "--revision",
        metavar="REV",
        action="append",
        help="serve this git revision (extracted) instead of the working tree; given twice or "
        "more, the revisions take turns, one soak each, in the order given",
    )
    args = parser.parse_args()
    rows = []
    for revision in args.revision or [None]:
        with extracted(revision) as root, OtherLoad() as load:
            r = asyncio.run(run(args.sessions, args.minutes, root))
        name = "working tree" if revision is None else revision
        row = [name, r["sessions"], f"{r['minutes']:g}", r["rounds"], r["errors"]]
        row += [f"{r['p50_s']:.2f} s", f"{r['p95_s']:.2f} s", f"{r['peak_rss_mb']} MB"]
        rows.append(row + [f"{load.share:.0%}"])
    headers = ["app", "sessions", "minutes", "rounds", "errors (goal 0)", "p50 to charts"]
    headers += ["p95 to charts", "server peak RSS", "other processes' CPU"]
    note = (
        f"Goal: p50 to charts <= {GOAL_P50:g} s at 8 sessions (judged on the first row). "
        "*other processes' CPU*: what processes outside this soak used meanwhile, as a share of "
        "the machine (bench/_common.py OtherLoad); above 10% the figures are inflated."
    )
    report("Soak: concurrent browser sessions on one server", table(headers, rows), note)


if __name__ == "__main__":
    main()
