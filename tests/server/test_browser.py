"""The operator console in a real Chromium with a fake microphone playing dev-008 (44.1 kHz
stereo, as Chromium's fake capture device delivers): login, live transcript, draft filling in,
submit; screenshots via the screenshot_dir fixture (docs/img/ with HOTLINE_UPDATE_SCREENSHOTS=1). Needs Debian's chromium (`apt-get install chromium`)."""
from __future__ import annotations

import json
import time
import wave
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CALL = "dev-008"


def make_fake_capture(src: Path, dst: Path, rate: int = 44100) -> float:
    """16 kHz mono fixture -> 44.1 kHz stereo PCM16 WAV (what the fake device will play); returns seconds."""
    from stt.audio import load_audio

    audio = load_audio(src)
    mono = audio.samples.mean(axis=0)
    n_out = int(len(mono) * rate / audio.sample_rate)
    resampled = np.interp(np.arange(n_out) * audio.sample_rate / rate, np.arange(len(mono)), mono)
    pcm = (np.clip(resampled, -1, 1) * 32767).astype("<i2")
    stereo = np.stack([pcm, pcm], axis=1)  # same voice on both sides: the page must downmix
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())
    return n_out / rate


@pytest.fixture()
def chromium_args(tmp_path, calls_dir):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    wav = tmp_path / "fake-mic.wav"
    seconds = make_fake_capture(calls_dir / f"{CALL}.wav", wav)
    args = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required"]
    return args, seconds


def _label(calls_dir: Path) -> dict:
    for line in (calls_dir / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip() and json.loads(line)["id"] == CALL:
            return json.loads(line)
    raise AssertionError(f"{CALL} not in labels.jsonl")


def test_console_call_fills_draft_and_submits(chromium_args, make_app, store, admin_token, live_server, calls_dir,
                                              screenshot_dir):
    from playwright.sync_api import sync_playwright

    args, seconds = chromium_args
    label = _label(calls_dir)
    srv = live_server(make_app())  # the real pipeline (model, nlp, store)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("console", lambda m: print("console:", m.type, m.text))
            page.goto(f"{srv.url}/")
            page.wait_for_selector("#login", state="visible")
            assert not page.is_visible("#app"), "nothing but the login before a token is given"
            page.fill("#token-input", "hl_wrong")
            page.click("#login-btn")
            page.wait_for_function("document.getElementById('login-msg').textContent.includes('令牌无效')")
            page.fill("#token-input", admin_token)
            page.click("#login-btn")
            page.wait_for_selector("#start-call:not([disabled])", state="visible")
            assert "test-admin" in page.inner_text("#who")

            page.click("#start-call")
            started = time.monotonic()
            page.wait_for_selector(".seg.final", timeout=60_000)
            # mid-call: transcript scrolling, the form filling in
            page.wait_for_function("document.querySelectorAll('.seg.final').length >= 4", timeout=90_000)
            page.screenshot(path=str(screenshot_dir / "console.png"))
            # a network drop mid-call: the console reconnects and resumes by itself
            page.evaluate("state.ws.close()")
            page.wait_for_function("document.getElementById('call-status').textContent.includes('已恢复连接')",
                                   timeout=30_000)

            # while the caller talks: KB and company directory searches from the side panel
            page.fill("#kb-q", "房产证丢了怎么补办")
            page.click("#kb-go")
            page.wait_for_function("document.getElementById('kb-list').textContent.includes('不动产权证遗失补办')")
            page.fill("#co-q", "飞跃体育")
            page.click("#co-go")
            page.wait_for_function("document.getElementById('co-list').textContent.includes('上海飞跃体育发展有限公司')")

            # let the fake microphone play the whole call, then hang up
            left = seconds + 1.5 - (time.monotonic() - started)
            if left > 0:
                page.wait_for_timeout(left * 1000)
            page.click("#stop-call")
            page.wait_for_function("document.getElementById('call-status').textContent.includes('已结束')",
                                   timeout=120_000)
            transcript = page.inner_text("#segments")
            assert len(transcript) > 60, transcript
            assert "营口路" in transcript or "588" in transcript, transcript

            district = page.input_value("#f-district")
            category = page.input_value("#f-category")
            print("draft in the form:", {"district": district, "category": category,
                                         "address": page.input_value("#f-address")})
            assert district == label["district"]  # 杨浦区
            assert category == label["category"]  # road_obstruction
            # hovering a prefilled field marks its evidence in the transcript
            page.hover("#row-district")
            page.wait_for_selector("mark.evidence", timeout=5_000)
            assert page.inner_text("mark.evidence").strip()
            page.mouse.move(0, 0)

            page.click("#submit-ticket")
            page.wait_for_function("document.getElementById('submit-msg').textContent.includes('已提交')",
                                   timeout=30_000)
            call_id = page.inner_text("#call-id").replace("通话编号", "").strip()
            ticket = store.get_by_call(call_id)
            assert ticket is not None and ticket["state"] == "submitted"
            shown = page.eval_on_selector_all(".seg.final", "nodes => nodes.map(n => Number(n.dataset.id))")
            assert shown == [seg["id"] for seg in store.segments(call_id)], "nothing lost or doubled by the drop"
            assert ticket["district"] == label["district"]

            # an older ticket past its deadlines, to show how overdue ones are marked
            from datetime import datetime

            late = store.upsert_draft({"call_id": "seed-late", "transcript": "", "appeal_type": "投诉",
                                       "category": "streetlight", "district": "宝山区", "street": "友谊路街道",
                                       "summary": "反映牡丹江路密山路口以北路灯不亮"})
            store.submit(late)
            store.dispatch(late, now=datetime(2025, 3, 3, 9, 0))
            page.goto(f"{srv.url}/static/tickets.html")
            page.wait_for_selector(f"tr.overdue[data-id='{late}']")
            page.wait_for_selector(f"tr[data-id='{ticket['id']}']")
            assert page.get_attribute(f"tr[data-id='{ticket['id']}']", "data-state") == "submitted"
            row = f"tr[data-id='{ticket['id']}']"
            page.once("dialog", lambda dialog: dialog.accept())  # the department prompt, prefilled
            page.click(f"{row} button[data-action='dispatched']")
            page.wait_for_selector(f"{row}[data-state='dispatched']")
            page.click(f"{row} button[data-action='contacted']")
            page.wait_for_selector(f"{row}[data-state='contacted']")
            assert store.get(ticket["id"])["state"] == "contacted"
            page.screenshot(path=str(screenshot_dir / "tickets.png"), full_page=True)
        finally:
            browser.close()



def test_console_unconfirmed_surname_offers_its_homophones(chromium_args, make_app, store, admin_token, live_server):
    """A draft whose surname was said, not spelled (何/贺 sound alike): the draft panel asks 哪个字？
    with one button per candidate; a click sets 来电人 and later drafts keep the pick. The call runs
    through the real websocket path; the pipeline is the server tests' fake, its draft carrying
    what nlp.extract writes for 我姓何 (tests/nlp/test_names.py checks that part)."""
    from playwright.sync_api import sync_playwright

    from tests.server.conftest import FakePipeline

    class UnconfirmedNamePipeline(FakePipeline):
        def open_call(self, *a, **kw):
            session = super().open_call(*a, **kw)
            plain = session._draft

            def draft() -> dict:
                return {**plain(), "caller_name": "何先生", "caller_name_confirmed": False,
                        "caller_name_candidates": ["何先生", "贺先生"], "confidence": {"caller_name": 0.72}}

            session._draft = draft
            return session

    args, _ = chromium_args
    srv = live_server(make_app(pipeline=UnconfirmedNamePipeline(store)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{srv.url}/")
            page.fill("#token-input", admin_token)
            page.click("#login-btn")
            page.wait_for_selector("#start-call:not([disabled])", state="visible")
            page.click("#start-call")
            page.wait_for_selector("#cands-caller_name .name-cand", timeout=30_000)
            assert "哪个字" in page.inner_text("#cands-caller_name")
            assert page.eval_on_selector_all("#cands-caller_name .name-cand",
                                             "ns => ns.map(n => n.textContent)") == ["何先生", "贺先生"]
            assert page.input_value("#f-caller_name") == "何先生"
            assert "unconfirmed" in page.get_attribute("#row-caller_name", "class")

            page.click("#cands-caller_name .name-cand:has-text('贺先生')")
            assert page.input_value("#f-caller_name") == "贺先生"
            page.wait_for_selector("#cands-caller_name .name-picked")
            assert "unconfirmed" not in page.get_attribute("#row-caller_name", "class")
            # the next drafts (one per second of audio) still say 何先生 unconfirmed: the pick stays
            n = page.eval_on_selector_all(".seg.final", "ns => ns.length")
            page.wait_for_function(f"document.querySelectorAll('.seg.final').length > {n + 1}", timeout=30_000)
            assert page.input_value("#f-caller_name") == "贺先生"
            assert page.query_selector("#cands-caller_name .name-cand") is None
            page.click("#stop-call")
        finally:
            browser.close()
