"""What a user of the app waits for and downloads: a real server, a real browser, the default model.

Run from the repository root: ``python bench/bench_browser.py [--quick]``. It prints markdown
tables and writes them to ``bench/RESULTS_browser.md``. Inputs are deterministic English texts of
exactly 16, 128 and 512 tokens (``[CLS]``/``[SEP]`` included, checked with ``viz.tokens.encode``).

1. Submit -> painted, attention view. ``streamlit run app.py`` servers and Debian's headless
   Chromium (``tests/drivers.py``). Each run types a *new* sentence (one word at token position 9
   differs from every sentence sent before, so the server really runs the model) into the
   sidebar's text area and presses Control+Enter. The clock starts at the keydown event in the
   page and stops after the frame in which all of the following hold: the app has been running
   since the keypress and is idle again, no element is stale, every expected Plotly chart has
   painted (a ``.js-plotly-plot`` holding a ``.main-svg``; Plotly draws three ``.main-svg`` per
   chart, so counting those over-counts charts), and the heatmap (and the head view, when drawn)
   contain the new word. The *server part* is timed on the wire (DevTools protocol timestamps of
   the request frame and of the ``script_finished`` frame), the rest is the browser's. One
   warm-up, then the median of the timed runs. Servers take turns: the app as configured (the
   goals are judged on it), the same app with ``runner.postScriptGC`` off (what Streamlit's full
   garbage collection after every run costs: it holds the GIL, so the last messages wait for
   it), and with one torch thread (what OpenMP threads cost when the CPUs are shared).

   "Running" and "idle" come from the ``data-test-script-state`` attribute that Streamlit keeps on
   ``[data-testid="stApp"]`` (its own end-to-end tests use it), recorded by a MutationObserver
   installed before the page loads. The status widget is not used: Streamlit only shows it after
   a run has lasted 500 ms and fades it out over 200 ms, so it never appears for quick runs and
   would add 200 ms to slow ones.

2. Bytes per view. WebSocket frames received by the page (Playwright's ``framereceived``; the
   payload's length, bytes or str), from the start of the action until painted as above, for
   each view at each size, in two ways: *open* = a fresh page loading ``/?view=V&text=...``
   (everything the view needs: sidebar, page, charts); *switch* = clicking the view in the
   sidebar, going round attention -> layers -> embeddings -> heads -> export -> attention
   (Streamlit then re-sends every element, except messages of 10 kB or more that the browser
   already holds, which it replaces by a reference). Frames are decoded as Streamlit
   ``ForwardMsg`` protobufs to name the biggest element of each view.

3. Rerun that only changes the layer or the head, 128 tokens. In-process with Streamlit's
   ``AppTest`` (no browser, no network): ``slider(key="layer").set_value(k).run()`` and the same
   for ``head``, with a new value every time, interleaved with a rerun that changes nothing (what
   AppTest and the unchanged part of the page cost), rotating the order each round. Then in the
   browser: focus the layer slider's thumb, press ArrowRight (or ArrowLeft at the end of the
   range), and time keydown -> painted (the heatmap's title names the new layer), on each
   server. AppTest's script runner skips the post-run ``gc.collect(2)``; its cost is timed
   separately in the AppTest process (same modules, model and caches alive).

Other processes' CPU use is recorded for every section (the machine may be shared) and flagged
when above 10%: the figures are then inflated.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import json
import os
import subprocess
import time
import urllib.parse
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import (  # noqa: E402
    ROOT,
    OtherLoad,
    browser_harness,
    generated_block,
    median,
    table,
    tree_cpu,
)
from playwright.sync_api import Error as PlaywrightError  # noqa: E402

from viz.ui.i18n import tr_in  # noqa: E402
from viz.ui.pages import PAGE_NAMES  # noqa: E402

_harness = browser_harness()
chromium, streamlit_server = _harness.chromium, _harness.streamlit_server

OUT = ROOT / "bench" / "RESULTS_browser.md"
SIZES = (16, 128, 512)
HEAD_VIEW_MAX_TOKENS = 128  # the attention page draws the head view up to this many tokens
# Charts each measured page paints; the pages are measured in the sidebar's order.
CHARTS = {"attention": 3, "layers": 6, "embeddings": 1, "heads": 1, "export": 0}
VIEW_CHARTS = {name: CHARTS[name] for name in PAGE_NAMES if name in CHARTS}
if len(VIEW_CHARTS) != len(CHARTS):
    raise SystemExit(f"Not pages of the app: {sorted(set(CHARTS) - set(PAGE_NAMES))}")
EXPORT_READY = ('[data-testid="stDownloadButton"]', 3)  # the export view has no chart
MB = 1e6
GOAL_SUBMIT = {16: 2.0, 512: 5.0}  # seconds, submit -> painted
GOAL_VIEW_BYTES = 10 * MB  # any one view at 512 tokens
GOAL_RERUN = 0.150  # seconds, layer/head rerun at 128 tokens
MARKER_POSITION = 9  # a tick label at 16, 128 and 512 tokens (ticks thin to every 1/3/9)
VIEWPORT = {"width": 1400, "height": 2200}
DEFAULT = "as configured"
# The same app under other settings, for comparison (the goals are judged on DEFAULT only).
VARIANTS = {
    DEFAULT: {},
    "postScriptGC off": {"STREAMLIT_RUNNER_POST_SCRIPT_GC": "false"},  # [runner] postScriptGC
    "1 torch thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
}
TIMEOUT_MS = 180_000

# Plain English, none of the marker words below, every word a single WordPiece.
PARAGRAPH = (
    "The old man walked slowly along the quiet road toward the small village near the river. "
    "In the morning the children went to school and the shops opened their doors. "
    "A woman sold fresh bread and warm soup at the corner of the market. "
    "When the rain began, people ran under the trees and waited for the sun to come back. "
    "Later that day the teacher told a long story about a ship that crossed the sea in winter. "
    "Everyone listened carefully, and nobody wanted the story to end."
)
MARKERS = (
    "zebra tiger lion horse camel eagle otter whale shark panda moose bison goose raven robin "
    "sparrow falcon beaver rabbit turtle dolphin salmon parrot badger donkey monkey spider "
    "lizard pigeon penguin leopard squirrel kitten puppy gorilla apple orange banana lemon "
    "cherry grape melon peach pear plum mango tomato potato carrot onion garlic pepper piano "
    "guitar violin drum trumpet flute silver copper marble velvet cotton wool leather diamond"
).split()

# Installed before any page script: records the app's run state, the arrival of every
# ``script_finished`` message and the benchmark's keypresses, and offers
# wait(options) -> {key, running, finished, painted} (performance.now() times, ms).
# A run is seen either as the app's "running" state or as a ``script_finished`` message: when
# the page's main thread is busy, Streamlit can handle a short run's messages in one batch and
# never show "running" (that made the benchmark wait forever on a fast rerun).
INIT_SCRIPT = """
(() => {
  const B = (window.__bench = { log: [], keys: [], finished: [], frame: 0 });
  // ForwardMsg field 6 is script_finished (an enum: a varint); read the top-level fields only
  const isScriptFinished = (data) => {
    const b = new Uint8Array(data);
    let i = 0;
    const varint = () => {
      let x = 0, shift = 0, c;
      do { c = b[i++]; x += (c & 0x7f) * 2 ** shift; shift += 7; } while (c & 0x80 && i < b.length);
      return x;
    };
    while (i < b.length) {
      const key = varint(), field = Math.floor(key / 8), type = key % 8;
      if (field === 6 && type === 0) return true;
      if (type === 0) varint();
      else if (type === 2) { const n = varint(); i += n; }  // not i += varint(): i read first
      else if (type === 1) i += 8;
      else if (type === 5) i += 4;
      else return false;
    }
    return false;
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (e.data instanceof ArrayBuffer && isScriptFinished(e.data))
          B.finished.push([performance.now(), B.frame]);
      });
    }
  };
  let last;
  const record = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app ? app.getAttribute("data-test-script-state") : null;
    if (state !== last) { last = state; B.log.push([performance.now(), state]); }
  };
  new MutationObserver(record).observe(document, {
    subtree: true, childList: true, attributes: true,
    attributeFilter: ["data-test-script-state"],
  });
  document.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" && e.ctrlKey) || e.key === "ArrowRight" || e.key === "ArrowLeft"
        || e.key === "r")
      B.keys.push(performance.now());
  }, true);
  // Plotly's charts, and the attention page's canvases (viz/ui/canvas), in page order
  const charts = () => [...document.querySelectorAll(".js-plotly-plot, .viz-chart")]
    .filter((p) => p.querySelector(".main-svg") || p.dataset.painted);
  B.ready = (o) => {
    const ran = B.log.find(([t, s]) => t >= o.since && s === "running");
    // a finished message counts once two frames have passed: the app has handled it by then
    const done = B.finished.find(([t, f]) => t >= o.since && B.frame >= f + 2);
    const now = B.log[B.log.length - 1];
    if (!o.paintedOnly) {
      if (!(ran || done) || !now || now[1] !== "notRunning") return null;
      if (document.querySelector('[data-stale="true"]')) return null;
    }
    const plots = charts();
    if (plots.length < o.charts) return null;
    for (const [i, text] of o.texts || [])
      if (!plots[i] || !plots[i].textContent.includes(text)) return null;
    if (o.selector && document.querySelectorAll(o.selector).length < o.count) return null;
    const key = B.keys.find((t) => t >= o.since);
    if (o.paintedOnly) return { key: key ?? null };
    return { key: key ?? null, running: ran ? ran[0] : null, finished: ran ? now[0] : done[0] };
  };
  B.wait = (o) => new Promise((resolve, reject) => {
    const deadline = performance.now() + o.timeout;
    const poll = () => {
      B.frame += 1;
      const r = B.ready(o);
      // checked in a frame callback; the timeout fires once that frame has been painted
      if (r) return setTimeout(() => resolve({ ...r, painted: performance.now() }), 0);
      if (performance.now() > deadline) {
        const seen = {
          states: B.log.slice(-6).map(([t, s]) => [Math.round(t), s]),
          charts: document.querySelectorAll(".js-plotly-plot").length,
          painted: charts().length,
          stale: document.querySelectorAll('[data-stale="true"]').length,
          alerts: [...document.querySelectorAll(
            '[data-testid="stAlert"], [data-testid="stException"]')]
            .map((a) => a.innerText.slice(0, 160)),
        };
        return reject(new Error("not painted: " + JSON.stringify(seen)));
      }
      requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  });
})();
"""


# ---------------------------------------------------------------- inputs
class Texts:
    """Sentences of an exact token count with a fresh marker word at ``MARKER_POSITION``."""

    def __init__(self) -> None:
        from viz.models import DEFAULT_MODEL, load_encoder

        self.encoder = load_encoder(DEFAULT_MODEL)
        self.max_tokens = self.encoder.facts.max_tokens
        tokenize = self.encoder.tokenizer.tokenize
        self.markers = [m for m in MARKERS if tokenize(m) == [m]]
        self.used = 0

    def count(self, text: str) -> tuple[int, tuple[str, ...]]:
        from viz.tokens import encode

        enc = encode(self.encoder.tokenizer, text, None, self.max_tokens)
        return len(enc.input_ids), enc.tokens

    def make(self, size: int) -> tuple[str, str]:
        """(text of exactly ``size`` tokens, its marker word). Markers go round the pool; each
        round starts the words after the marker elsewhere in the paragraph, so that no text
        repeats and consecutive texts never share a marker."""
        marker = self.markers[self.used % len(self.markers)]
        shift = 7 * (self.used // len(self.markers))
        self.used += 1
        words = PARAGRAPH.split()
        before = words[: MARKER_POSITION - 1]  # eight plain one-token words
        after = [words[(MARKER_POSITION - 1 + shift + i) % len(words)] for i in range(4 * size)]
        for n in range(len(after) + 1):
            chosen = [*before, marker, *after[:n]]
            count, tokens = self.count(" ".join(chosen))
            if count > size:  # the last word brought punctuation along: drop it
                chosen[-1] = chosen[-1].rstrip(".,")
                count, tokens = self.count(" ".join(chosen))
            if count >= size:
                break
        if count != size:
            raise RuntimeError(f"could not build a {size}-token text")
        text = " ".join(chosen)
        if tokens[MARKER_POSITION] != marker:
            raise RuntimeError(f"marker not at position {MARKER_POSITION}: {tokens[:12]}")
        return text, marker


# ---------------------------------------------------------------- browser helpers
def _is_script_finished(b64: str) -> bool:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    try:
        msg.ParseFromString(base64.b64decode(b64))
    except Exception:  # noqa: BLE001 - not a ForwardMsg
        return False
    return msg.WhichOneof("type") == "script_finished"


class Tab:
    """A page with the recorder installed, the received WebSocket frames (Playwright's
    ``framereceived``) and network-level frame times from the DevTools protocol: the server's
    share of a rerun is measured there, unaffected by how busy the page's main thread is."""

    def __init__(self, browser) -> None:
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.add_init_script(INIT_SCRIPT)
        self.frames: list = []
        self.wire: list[tuple[float, str]] = []  # (DevTools timestamp in s, "sent"|"finished")

        def on_frame(payload) -> None:
            self.frames.append(payload)

        def on_socket(ws) -> None:
            ws.on("framereceived", on_frame)

        def on_sent(event: dict) -> None:
            self.wire.append((event["timestamp"], "sent"))

        def on_received(event: dict) -> None:
            data = event["response"]
            if data["opcode"] == 2 and len(data["payloadData"]) < 400:  # script_finished: tiny
                if _is_script_finished(data["payloadData"]):
                    self.wire.append((event["timestamp"], "finished"))

        self.page.on("websocket", on_socket)
        cdp = self.page.context.new_cdp_session(self.page)
        cdp.on("Network.webSocketFrameSent", on_sent)
        cdp.on("Network.webSocketFrameReceived", on_received)
        cdp.send("Network.enable")

    def reset(self) -> float:
        """Forget frames so far; return the page's clock (ms), to pass as ``since``."""
        self.frames.clear()
        self.wire.clear()
        return self.page.evaluate("performance.now()")

    def wait(
        self, since: float, charts: int, texts=(), view: str = "", painted_only: bool = False
    ) -> dict:
        """Block until painted after ``since`` (see the module docstring); ``texts``: (chart
        index, text that chart must contain). Page-clock times in ms, plus ``server``: seconds
        from the first frame the page sent to the ``script_finished`` frame it received.
        ``painted_only``: as soon as the charts show ``texts``, whether a run is still going or
        not (a layer step the browser draws itself), and no ``server``."""
        options: dict = {"since": since, "charts": charts, "texts": texts, "timeout": TIMEOUT_MS,
                         "paintedOnly": painted_only}  # fmt: skip
        if view == "export":
            options["selector"], options["count"] = EXPORT_READY
        result = self.page.evaluate("(o) => window.__bench.wait(o)", options)
        if painted_only:
            return result
        for _ in range(100):  # DevTools events may trail the page's own view by a few ms
            sent = next((t for t, kind in self.wire if kind == "sent"), None)
            done = [t for t, kind in self.wire if kind == "finished" and sent and t >= sent]
            if done:
                result["server"] = done[-1] - sent
                break
            self.page.wait_for_timeout(20)
        else:
            result["server"] = float("nan")
        return result

    def close(self) -> None:
        self.page.close()


def attention_charts(size: int) -> int:
    """The head view is replaced by a message above ``HEAD_VIEW_MAX_TOKENS`` labels (all tokens,
    specials included, with the view's default settings)."""
    return VIEW_CHARTS["attention"] - (size > HEAD_VIEW_MAX_TOKENS)


def view_url(url: str, view: str, text: str) -> str:
    return f"{url}/?{urllib.parse.urlencode({'view': view, 'text': text, 'layer': 1, 'head': 1})}"


def submit(tab: Tab, text: str, marker: str, size: int) -> dict:
    box = tab.page.get_by_label(tr_in("en", "sentence"), exact=True)
    box.fill(text)
    since = tab.reset()
    box.press("Control+Enter")
    charts = attention_charts(size)
    # the heatmap's tick label "9 zebra", and the head view's token label
    texts = [(0, f"{MARKER_POSITION} {marker}")] + ([(2, marker)] if charts == 3 else [])
    return tab.wait(since, charts, texts)


def payload_size(payload) -> int:
    return len(payload) if isinstance(payload, bytes | bytearray) else len(payload.encode())


def describe(payload) -> tuple[str, int]:
    """(what a frame carries, its size): the element type; for a chart, its title."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    size = payload_size(payload)
    if not isinstance(payload, bytes | bytearray):
        return "text frame", size
    msg = ForwardMsg()
    try:
        msg.ParseFromString(bytes(payload))
    except Exception:  # noqa: BLE001 - not a ForwardMsg: still counted
        return "unknown", size
    kind = msg.WhichOneof("type") or "?"
    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        element = msg.delta.new_element
        kind = element.WhichOneof("type") or "?"
        if kind == "plotly_chart":
            title = json.loads(element.plotly_chart.spec).get("layout", {}).get("title", {})
            kind = "chart '" + str(title.get("text", "?")).split("<br>")[0][:48] + "'"
    return kind, size


def frames_summary(frames: list) -> dict:
    """Total bytes, and the messages of 10 kB or more (what they are, bytes), biggest first."""
    described = [describe(f) for f in frames]
    big = sorted((d for d in described if d[1] >= 10_000), key=lambda d: -d[1])
    return {"total": sum(size for _, size in described), "big": big, "count": len(described)}


# ---------------------------------------------------------------- 1 + 2 + 3b: the browser
def bench_browser(texts: Texts, runs: int, slider_moves: int) -> dict:
    """Sections 1, 2 and the browser half of 3. Timings take turns between one server per
    ``VARIANTS`` entry; bytes are measured on the app as configured."""
    results: dict = {"submit": {}, "bytes": {}, "slider": {}, "load": {}}
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(streamlit_server(env)) for name, env in VARIANTS.items()}
        url = urls[DEFAULT]
        browser = stack.enter_context(chromium())
        tabs = {}
        for name, address in urls.items():
            tabs[name] = Tab(browser)
            tabs[name].page.goto(address)
            tabs[name].wait(0, VIEW_CHARTS["attention"])  # model loaded, Plotly warm
        first: dict[int, str] = {}
        with OtherLoad() as load:
            for size in SIZES:
                timings: dict = {name: [] for name in urls}
                for r in range(runs + 1):  # the first run is a warm-up
                    for name, tab in tabs.items():
                        text, marker = texts.make(size)
                        t = submit(tab, text, marker, size)
                        if r:
                            first.setdefault(size, text)
                            timings[name].append(t)
                            print(
                                f"  submit {size:>3} tokens, {name}, run {r}: "
                                f"{(t['painted'] - t['key']) / 1e3:.2f} s "
                                f"(server {t['server']:.2f} s)",
                                flush=True,
                            )
                results["submit"][size] = timings
        results["load"]["submit"] = load.share
        for tab in tabs.values():
            tab.close()

        with OtherLoad() as load:
            for size in SIZES:
                results["bytes"][size] = bytes_per_view(browser, url, first[size], size)
                print(f"  bytes at {size} tokens measured", flush=True)
        results["load"]["bytes"] = load.share

        with OtherLoad() as load:
            results["slider"] = slider_in_browser(browser, urls, first[128], slider_moves)
        results["load"]["slider"] = load.share
    return results


def bytes_per_view(browser, url: str, text: str, size: int) -> dict:
    opened = {}
    for view, charts in VIEW_CHARTS.items():
        charts = attention_charts(size) if view == "attention" else charts
        for attempt in (1, 2):  # a page that never settles is retried once, then reported
            tab = Tab(browser)
            try:
                tab.page.goto(view_url(url, view, text))
                tab.wait(0, charts, view=view)
                opened[view] = frames_summary(tab.frames)
                break
            except PlaywrightError as err:
                print(f"  open {view} at {size} tokens, attempt {attempt}: {err}", flush=True)
                opened[view] = {"total": float("nan"), "big": [], "error": str(err)[:300]}
            finally:
                tab.close()
    switched = {}
    tab = Tab(browser)
    tab.page.goto(view_url(url, "attention", text))
    tab.wait(0, attention_charts(size))
    for view in [*list(VIEW_CHARTS)[1:], "attention"]:
        charts = attention_charts(size) if view == "attention" else VIEW_CHARTS[view]
        since = tab.reset()
        tab.page.get_by_text(tr_in("en", f"view_{view}"), exact=True).click()
        tab.wait(since, charts, view=view)
        switched[view] = frames_summary(tab.frames)
    tab.close()
    return {"open": opened, "switch": switched}


def layer_titles(layer: int, charts: int) -> list[tuple[int, str]]:
    """What the charts show once they are at ``layer``: the heatmap's title (chart 0) and, with
    3 charts, the head view's (chart 2), each up to the layer's number and its comma."""
    heatmap, heads = (
        tr_in("en", k).split("{layer}")[0] for k in ("attention_title", "head_view_title")
    )
    return [(0, f"{heatmap}{layer},")] + ([(2, f"{heads}{layer},")] if charts == 3 else [])


def layer_thumb(page):
    """The attention page's layer slider: the canvas page's own (viz/ui/canvas); Streamlit's
    first slider on an app from before it (--before)."""
    thumb = page.locator("input.viz-range")
    if not thumb.count():
        thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    return thumb


def slider_in_browser(browser, urls: dict[str, str], text: str, moves: int) -> dict:
    """Move the layer slider with the keyboard, 1 -> 6 -> 1 ..., timing each move; the servers
    take turns."""
    pages = {}
    for name, url in urls.items():
        tab = Tab(browser)
        tab.page.goto(view_url(url, "attention", text))
        tab.wait(0, attention_charts(128))
        thumb = layer_thumb(tab.page)
        low, high = int(thumb.get_attribute("min")), int(thumb.get_attribute("max"))
        pages[name] = {"tab": tab, "thumb": thumb, "layer": low, "low": low, "high": high}
    timings: dict = {name: [] for name in urls}
    processes = {"Chromium": "chromium"} | {
        name: f"--server.port {urllib.parse.urlsplit(url).port} " for name, url in urls.items()
    }
    for i in range(moves + 1):  # the first move is a warm-up
        if i == 1:
            cpu_before = {name: tree_cpu(pattern) for name, pattern in processes.items()}
        for name, p in pages.items():
            thumb = p["thumb"]
            step = 1 if (i // (p["high"] - p["low"])) % 2 == 0 else -1  # up, down, up, ...
            p["layer"] += step
            thumb.focus()
            since = p["tab"].reset()
            thumb.press("ArrowRight" if step > 0 else "ArrowLeft")
            t = p["tab"].wait(since, 3, layer_titles(p["layer"], 3))
            t["bytes"] = frames_summary(p["tab"].frames)["total"]
            if i:
                timings[name].append(t)
    # CPU per timed move: each server's own; Chromium's over all pages' moves
    timings["cpu"] = {
        name: (tree_cpu(pattern) - cpu_before[name])
        / (moves * (len(urls) if name == "Chromium" else 1))
        for name, pattern in processes.items()
    }
    for p in pages.values():
        p["tab"].close()
    return timings


# ---------------------------------------------------------------- 4: slider steps
GOAL_STEP = {128: 0.150, 512: 0.300}  # seconds, one layer-slider step, keypress -> repainted
STEP_SIZES = tuple(GOAL_STEP)


@contextlib.contextmanager
def tree_server(root, env: dict[str, str] | None = None, timeout: float = 90):
    """``streamlit run app.py`` of the source tree ``root`` (another revision of this
    repository, extracted), with that tree's ``viz`` ahead of the installed one."""
    port = _harness.free_port()
    command = [str(root / "app.py") if a == str(ROOT / "app.py") else a
               for a in _harness.streamlit_command(port)]  # fmt: skip
    paths = [str(root), os.environ.get("PYTHONPATH", "")]
    proc = subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(paths),
            **(env or {}),
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"the server of {root} did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def extracted(revision: str):
    """The files of ``revision`` in a temporary folder (``git archive``; the repository is
    left as it is)."""
    import tarfile
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="bench-before-") as folder:
        archive = subprocess.run(
            ["git", "archive", revision], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def steps_in_browser(browser, urls: dict[str, str], texts: Texts, steps: int) -> dict:
    """One layer-slider step (ArrowRight/ArrowLeft on the focused thumb, 1 -> 6 -> 1 ...) and a
    rerun that changes nothing (Streamlit's ``r`` shortcut, focus on the page), interleaved, at
    each of ``STEP_SIZES`` tokens, on every server in turn. Each is timed keydown -> the run
    over and the charts repainted (the heatmap's title, and the head view's when it is drawn,
    naming the layer now open)."""
    pages = {}
    for name, url in urls.items():
        for size in STEP_SIZES:
            text, _ = texts.make(size)
            tab = Tab(browser)
            tab.page.goto(view_url(url, "attention", text))
            charts = attention_charts(size)
            tab.wait(0, charts)
            thumb = layer_thumb(tab.page)
            low, high = (
                int(thumb.get_attribute("min")),
                int(thumb.get_attribute("max")),
            )
            pages[name, size] = {"tab": tab, "thumb": thumb, "layer": low, "low": low,
                                 "high": high, "charts": charts}  # fmt: skip
    timings: dict = {key: {"step": [], "no-op": []} for key in pages}

    def expect(p: dict) -> list:
        return layer_titles(p["layer"], p["charts"])

    def step(p: dict) -> dict:
        up = p.get("up", True)
        if p["layer"] == (p["high"] if up else p["low"]):  # at the end: turn round
            up = not up
        p["up"], move = up, 1 if up else -1
        p["layer"] += move
        p["thumb"].focus()
        since = p["tab"].reset()
        p["thumb"].press("ArrowRight" if move > 0 else "ArrowLeft")
        painted = p["tab"].wait(since, p["charts"], expect(p), painted_only=True)["painted"]
        return {**p["tab"].wait(since, p["charts"], expect(p)), "repainted": painted}

    def no_op(p: dict) -> dict:
        page = p["tab"].page
        page.evaluate("document.activeElement && document.activeElement.blur()")
        since = p["tab"].reset()
        page.keyboard.press("r")
        return p["tab"].wait(since, p["charts"], expect(p))

    kinds = {"step": step, "no-op": no_op}
    for i in range(steps + 1):  # the first round is a warm-up
        order = list(kinds) if i % 2 == 0 else list(kinds)[::-1]
        for key, p in pages.items():
            for kind in order:
                t = kinds[kind](p)
                t["bytes"] = frames_summary(p["tab"].frames)["total"]
                if i:
                    timings[key][kind].append(t)
                    print(
                        f"  {key[0]}, {key[1]} tokens, {kind}: "
                        f"{t.get('repainted', t['painted']) - t['key']:.0f} ms, run over "
                        f"{t['painted'] - t['key']:.0f} ms (server {t['server'] * 1e3:.0f} ms)",
                        flush=True,
                    )
    for p in pages.values():
        p["tab"].close()
    return timings


def report_steps(timings: dict, steps: int, load: float) -> str:
    rows = []
    first = next(iter(timings))[0]
    for (name, size), by_kind in timings.items():
        step_ms = median(seconds(by_kind["step"], "key", "repainted")) * 1e3
        over_ms = median(seconds(by_kind["step"], "key", "painted")) * 1e3
        noop_ms = median(seconds(by_kind["no-op"], "key", "painted")) * 1e3
        server_ms = median([t["server"] for t in by_kind["step"]]) * 1e3
        goal = GOAL_STEP[size]
        rows.append(
            [
                size,
                name,
                f"{step_ms:.0f} ms",
                f"{over_ms:.0f} ms",
                f"{server_ms:.0f} ms",
                f"{median([t['bytes'] for t in by_kind['step']]) / MB:.3f} MB",
                f"{noop_ms:.0f} ms",
                f"{step_ms / noop_ms:.2f}",
                f"<= {goal * 1e3:.0f} ms: {verdict(step_ms <= goal * 1e3)}"
                if name == first
                else "(for comparison)",
            ]
        )
    body = [
        "Model: the default (all-MiniLM-L6-v2, 6 layers x 12 heads, 512-token maximum), CPU.",
        "",
        f"### One step of the layer slider, keypress -> repainted (median of {steps})",
        "",
        table(
            [
                "tokens",
                "server",
                "step",
                "run over",
                "server part",
                "received",
                "no-op rerun",
                "step / no-op",
                "goal",
            ],  # fmt: skip
            rows,
        ),
        "",
        "*step*: ArrowRight/ArrowLeft on the focused layer slider, keydown -> the frame in "
        "which the heatmap (and the head view, drawn up to "
        f"{HEAD_VIEW_MAX_TOKENS} tokens) show the new layer in their titles: the canvases "
        "repaint in the browser, a Plotly page (`--before`) only after its rerun. *run "
        "over*: keydown -> the rerun the step starts is over (the rest of the page and the "
        "share link updated), no element stale. *no-op rerun*: Streamlit's `r` shortcut, the "
        "same page rerun with nothing changed, interleaved with the steps (its order "
        "alternating), timed as *run over*. *server part*: the step's rerun request leaving "
        "the page -> `script_finished` arriving (DevTools network timestamps). " + load_note(load),
    ]
    title = "In the browser: one step of the layer slider"
    return generated_block(title, "\n".join(body), *software()) + "\n"


# ---------------------------------------------------------------- 3a: AppTest
def bench_apptest(text: str, reps: int) -> dict:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["text"] = text
    at.run()
    if at.exception:
        raise RuntimeError(at.exception[0].message)
    if not any("128 tokens" in c.value for c in at.caption):
        raise RuntimeError("the AppTest page does not show 128 tokens")
    # the layer slider is the page's canvas component (viz/ui/canvas): moved as its callback
    # records a step (tests/drivers.py set_layer); the head, Streamlit's slider
    n_layers = _harness.canvases(at)["attention_layer"]["layers"]
    n_heads = at.slider(key="head").max
    state = {"layer": 1, "head": 1}

    def change(key: str, n: int) -> Callable[[], object]:
        def run() -> object:
            state[key] = state[key] % n + 1  # a new value every time
            if key == "layer":
                return _harness.set_layer(at, state[key])
            return at.slider(key=key).set_value(state[key]).run()

        return run

    variants = {
        "no change": at.run,
        "layer": change("layer", n_layers),
        "head": change("head", n_heads),
    }
    for fn in variants.values():  # warm-up
        fn()
    times: dict = {name: [] for name in variants}
    names = list(variants)
    with OtherLoad() as load:
        for r in range(reps):
            for name in names[r % 3 :] + names[: r % 3]:
                start = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - start)
                if at.exception:
                    raise RuntimeError(at.exception[0].message)
    times["load"] = load.share
    # `streamlit run` ends every run with gc.collect(2) (runner.postScriptGC); AppTest's runner
    # skips it. Time it here, where the same modules, model and caches are alive, and again
    # after gc.freeze() (long-lived objects moved out of the collector's sight).
    times["gc"] = [timedian(lambda: gc.collect(2)) for _ in range(5)]
    times["objects"] = len(gc.get_objects())
    gc.freeze()
    times["gc frozen"] = [timedian(lambda: gc.collect(2)) for _ in range(5)]
    gc.unfreeze()
    return times


def timedian(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------- report
def software() -> list[str]:
    import streamlit

    chromium_version = subprocess.run(
        [_harness.CHROMIUM, "--version"], capture_output=True, text=True
    ).stdout.strip()
    return [f"streamlit {streamlit.__version__}", chromium_version or "chromium ?"]


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def seconds(timings: list[dict], a: str, b: str) -> list[float]:
    return [(t[b] - t[a]) / 1e3 for t in timings]


def load_note(share: float) -> str:
    flag = " (**busy: figures are inflated**)" if share > 0.1 else ""
    return f"Other processes used {share:.0%} of the machine's CPU meanwhile{flag}."


def report(results: dict, apptest: dict, runs: int) -> str:
    out = [
        "Model: the default (all-MiniLM-L6-v2, 6 layers x 12 heads, 512-token maximum), CPU.",
        "",
        f"### Submit a new sentence -> last chart painted (attention view, median of {runs})",
    ]
    rows = []
    for size, by_server in results["submit"].items():
        goal = GOAL_SUBMIT.get(size)
        for name, timings in by_server.items():
            total = seconds(timings, "key", "painted")
            server = [t["server"] for t in timings]
            if name == DEFAULT:
                verdict_text = f"<= {goal:.0f} s: {verdict(median(total) <= goal)}" if goal else "-"
            else:
                verdict_text = "(for comparison)"
            rows.append(
                [
                    size,
                    name,
                    f"{median(total):.2f} s",
                    f"{min(total):.2f}-{max(total):.2f} s",
                    f"{median(server):.2f} s",
                    f"{median([a - b for a, b in zip(total, server)]):.2f} s",
                    verdict_text,
                ]
            )
    out += [
        "",
        table(
            [
                "tokens",
                "server",
                "submit -> painted",
                "range",
                "server part",
                "browser + rest",
                "goal",
            ],
            rows,
        ),
        "",
        "*server part*: from the rerun request leaving the page to the `script_finished` "
        "message arriving (DevTools network timestamps): tokenising, the model, analyses, "
        "figures, serialisation, and Streamlit's post-run `gc.collect(2)`, which holds the GIL "
        "so the last messages wait for it. *browser + rest*: the difference, per run (keypress "
        "handling, decoding, Plotly drawing). The servers took turns: the same app "
        + ", ".join(
            f"*{name}* (`{' '.join(f'{k}={v}' for k, v in env.items())}`)"
            for name, env in VARIANTS.items()
            if env
        )
        + ". "
        + load_note(results["load"]["submit"]),
        "",
    ]

    out += ["### Bytes received over the WebSocket per view (server as configured)", ""]
    rows = []
    for size, both in results["bytes"].items():
        for view in VIEW_CHARTS:
            opened, switched = both["open"][view], both["switch"][view]
            worst = max(opened["total"], switched["total"])
            big = ", ".join(f"{name} {n / MB:.2f} MB" for name, n in opened["big"][:3]) or "-"
            if "error" in opened:
                big = f"page did not settle: {opened['error']}"
            rows.append(
                [
                    size,
                    view,
                    f"{opened['total'] / MB:.3f} MB",
                    f"{switched['total'] / MB:.3f} MB",
                    big,
                    f"<= 10 MB: {verdict(worst <= GOAL_VIEW_BYTES)}" if size == 512 else "-",
                ]
            )
        o_sum = sum(v["total"] for v in both["open"].values())
        s_sum = sum(v["total"] for v in both["switch"].values())
        rows.append([size, "all five", f"{o_sum / MB:.3f} MB", f"{s_sum / MB:.3f} MB", "", ""])
    out += [
        table(
            ["tokens", "view", "open (new page)", "switch (sidebar)", "biggest messages", "goal"],
            rows,
        ),
        "",
        "*open*: a new page loading `/?view=V&text=...` (everything: sidebar, page, charts); "
        "*switch*: clicking the view in the sidebar, round attention -> layers -> embeddings -> "
        "heads -> export -> attention (attention's figure is the return from export). Static "
        "files (JS, CSS, fonts) are not counted: HTTP, once, cached. "
        + load_note(results["load"]["bytes"]),
        "",
    ]

    out += ["### Rerun that only changes the layer or the head (128 tokens)", ""]
    base = median(apptest["no change"])
    gc_ms, frozen_ms = median(apptest["gc"]) * 1e3, median(apptest["gc frozen"]) * 1e3
    rows = []
    for name in ("layer", "head"):
        m = median(apptest[name])
        rows.append(
            [
                f"AppTest, {name} slider",
                f"{m * 1e3:.0f} ms",
                f"{base * 1e3:.0f} ms",
                f"{(m - base) * 1e3:.0f} ms",
                f"<= 150 ms: {verdict(m <= GOAL_RERUN)}",
            ]
        )
    m = median(apptest["layer"])
    rows.append(
        [
            "AppTest, layer slider + the post-run GC that `streamlit run` adds",
            f"{m * 1e3 + gc_ms:.0f} ms",
            "-",
            "-",
            f"<= 150 ms: {verdict(m + gc_ms / 1e3 <= GOAL_RERUN)}",
        ]
    )
    for name, moves in results["slider"].items():
        if name == "cpu":
            continue
        total = seconds(moves, "key", "painted")
        server = [t["server"] for t in moves]
        rows.append(
            [
                f"browser ({name}), layer slider: keypress -> painted",
                f"{median(total) * 1e3:.0f} ms",
                "-",
                "-",
                f"<= 150 ms: {verdict(median(total) <= GOAL_RERUN)}"
                if name == DEFAULT
                else "(for comparison)",
            ]
        )
        rows.append(
            [
                f"browser ({name}), layer slider: server part",
                f"{median(server) * 1e3:.0f} ms",
                "-",
                "-",
                f"<= 150 ms: {verdict(median(server) <= GOAL_RERUN)}"
                if name == DEFAULT
                else "(for comparison)",
            ]
        )
    out += [
        table(["rerun", "median", "no-change rerun", "difference", "goal"], rows),
        "",
        f"AppTest: in-process, no browser; median of {len(apptest['layer'])} reruns each, "
        "interleaved (no change / layer / head, rotating), a new value every time; the "
        "no-change rerun is AppTest's own overhead plus the unchanged page. AppTest's script "
        "runner skips the `gc.collect(2)` that `streamlit run` does after every run "
        f"(`runner.postScriptGC`, on by default): in the same process ({apptest['objects']:,} "
        f"objects tracked) it takes {gc_ms:.0f} ms, and {frozen_ms:.0f} ms after `gc.freeze()`. "
        + load_note(apptest["load"]),
    ]
    if results["slider"]:
        moves = next(iter(results["slider"].values()))
        out += [
            "",
            f"Browser: median of {len(moves)} keyboard moves of the layer slider (ArrowRight/"
            "ArrowLeft on its thumb) per server, taking turns, on a page at 128 tokens; *server "
            f"part* as in the first table; {median([t['bytes'] for t in moves]) / MB:.2f} MB "
            "received per move. CPU time per move: "
            + ", ".join(
                f"{name} {cpu * 1e3:.0f} ms" for name, cpu in results["slider"]["cpu"].items()
            )
            + " (Chromium: all its processes; servers: each its own). "
            + load_note(results["load"]["slider"]),
        ]
    title = "In the browser: time to charts, bytes per view, rerun cost"
    return generated_block(title, "\n".join(out), *software()) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 runs, 7 AppTest reruns, 5 slider moves (a smoke test, below the 5-run minimum)",
    )
    parser.add_argument(
        "--steps",
        action="store_true",
        help="only the layer-slider step at 128 and 512 tokens, against a no-op rerun",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="with --steps: also serve this git revision of the app (extracted), for comparison",
    )
    parser.add_argument(
        "--after",
        metavar="REV",
        help="with --steps: serve this git revision instead of the working tree",
    )
    args = parser.parse_args()
    runs, reps, moves = (3, 7, 5) if args.quick else (7, 21, 15)
    if args.steps:
        return main_steps(5 if args.quick else 9, args.before, args.after)

    texts = Texts()
    print("browser: submit timings, bytes per view, slider", flush=True)
    results = bench_browser(texts, runs, moves)
    print("AppTest: layer / head reruns at 128 tokens", flush=True)
    text128, _ = texts.make(128)
    apptest = bench_apptest(text128, reps)
    body = report(results, apptest, runs)
    print()
    print(body)
    OUT.write_text(body, encoding="utf-8")
    print(f"written to {OUT.relative_to(ROOT)}")


def main_steps(steps: int, before: str | None, after: str | None) -> None:
    """Section 4 alone; ``before``/``after``: git revisions served side by side (extracted), the
    first judged against the goals; without ``after``, the working tree."""
    texts = Texts()

    def short(rev: str) -> str:
        return subprocess.run(
            ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip

    with contextlib.ExitStack() as stack:
        urls = {}
        for name, rev in (("after", after), ("before", before)):
            if rev:
                root = stack.enter_context(extracted(short(rev)))
                urls[f"{name} ({short(rev)})"] = stack.enter_context(tree_server(root))
            elif name == "after":
                urls["working tree"] = stack.enter_context(tree_server(ROOT))
        browser = stack.enter_context(chromium())
        with OtherLoad() as load:
            timings = steps_in_browser(browser, urls, texts, steps)
    body = report_steps(timings, steps, load.share)
    print()
    print(body)


if __name__ == "__main__":
    main()
