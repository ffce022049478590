"""The web page in a real headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium): upload a real EmoDB file and read the decision; record
from Chromium's fake microphone fed a real recording and see the segments."""
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import serve_in_thread

pytestmark = pytest.mark.integration
CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or "/usr/bin/chromedriver"


def need_browser():
    missing = [p for p in (CHROMIUM, DRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        msg = f"browser tests need {', '.join(missing)} (Debian: apt-get install chromium chromium-driver; pip install selenium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg + " - required in CI")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def server():
    need_browser()
    from segser.serving.service import create_app

    for port in serve_in_thread(create_app(["default", "default-4class", "live-4class"])):
        yield f"http://127.0.0.1:{port}"


def browser(tmp_path, *extra):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", "--autoplay-policy=no-user-gesture-required",
                *extra):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def wait(driver, condition, timeout=90):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def upload(driver, server, path, *, speakers=False, transcribe=False):
    """Open the page, choose ``path`` and press Analyse (ticking "find speakers" and "transcribe" first if asked)."""
    from selenium.webdriver.common.by import By

    driver.get(server + "/")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 3)
    driver.find_element(By.ID, "file").send_keys(str(path))
    if speakers:
        driver.find_element(By.ID, "speakers").click()
    if transcribe:
        driver.find_element(By.ID, "transcribe").click()
    driver.find_element(By.ID, "analyse").click()


def test_upload_a_real_recording_and_read_the_decision(server, shared_data, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser(tmp_path)
    try:
        upload(driver, server, shared_data / "emodb-originals" / "03a01Wa.wav")
        label = wait(driver, lambda d: d.find_element(By.ID, "decision").get_attribute("data-label"))
        assert label == "angry" and driver.find_element(By.ID, "now").get_attribute("data-label") == "angry"
        rows = driver.find_elements(By.CSS_SELECTOR, "#segments tr")
        assert [r.get_attribute("data-label") for r in rows] == ["angry", "angry"]
        driver.save_screenshot(str(tmp_path / "upload.png"))
    finally:
        driver.quit()


def test_fake_microphone_fed_a_real_recording(server, shared_data, tmp_path):
    from selenium.webdriver.common.by import By

    x, sr = sf.read(str(shared_data / "emodb-originals" / "03a01Wa.wav"), dtype="float32")
    sf.write(str(tmp_path / "mic.wav"), np.concatenate([x, np.zeros(sr // 5, np.float32)] * 4), sr, subtype="PCM_16")
    driver = browser(tmp_path, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={tmp_path / 'mic.wav'}")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        driver.get(server + "/")
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 3)
        assert driver.find_element(By.ID, "adapt").is_selected()  # adapting by default: the page says how much it heard
        driver.find_element(By.ID, "record").click()
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#segments tr")) >= 6)
        now = driver.find_element(By.ID, "now")
        assert now.get_attribute("data-label") in ("angry", "happy", "neutral", "sad", "no speech")
        assert float(now.value_of_css_property("font-size").rstrip("px")) >= 30  # the emotion now, in large type
        legend = [e.get_attribute("data-class") for e in driver.find_elements(By.CSS_SELECTOR, "#legend span")]
        # nothing picked: the stream gets the server's live model (trailing windows)
        assert legend == ["angry", "happy", "neutral", "sad", "uncertain", "no speech"]
        assert "live-4class" in driver.find_element(By.ID, "model").text
        assert "this voice" in driver.find_element(By.ID, "heard").text
        driver.find_element(By.ID, "stop").click()
        decision = wait(driver, lambda d: d.find_element(By.ID, "decision").get_attribute("data-label"))
        labels = [r.get_attribute("data-label") for r in driver.find_elements(By.CSS_SELECTOR, "#segments tr")]
        assert labels.count("angry") >= 0.6 * len(labels), labels
        assert decision == "angry"
        driver.find_element(By.ID, "download-csv").click()
        csv = wait(driver, lambda d: next(iter(downloads.glob("segser-timeline*.csv")), None), timeout=20)
        lines = csv.read_text().splitlines()
        assert lines[0].startswith("start,end,label,score,speech,p_angry") and lines[0].endswith("adapted_on_s")
        assert [line.split(",")[2].strip('"') for line in lines[1:]] == labels
        driver.find_element(By.ID, "download-json").click()
        doc = wait(driver, lambda d: next(iter(downloads.glob("segser-timeline*.json")), None), timeout=20)
        import json

        got = json.loads(doc.read_text())
        assert got["decision"]["label"] == "angry" and [s["label"] for s in got["segments"]] == labels
    finally:
        driver.quit()


def test_a_long_live_session_keeps_the_page_small(server, tmp_path):
    """Ten hours of one-second segments played through the page's stream handler: the table keeps its newest
    300 rows, the drawing its last 60 s, and the heap grows only by the compact rows kept for the download."""
    from selenium.webdriver.common.by import By

    driver = browser(tmp_path, "--enable-precise-memory-info", "--js-flags=--expose-gc")
    play = """
        const [from, to] = arguments;
        const p = window.segserPage;
        for (let i = from; i < to; i++) {
          const label = ["angry", "happy", "neutral", "sad", "no speech"][i % 5];
          p.handle({type: "segment", start: i, end: i + 1, label, score: label === "no speech" ? null : 0.7,
                    speech: label === "no speech" ? 0 : 0.9, p_angry: 0.1, p_happy: 0.1, p_neutral: 0.1, p_sad: 0.7,
                    adapted_on_s: i > 12 ? i * 0.9 : 0});
        }
        if (window.gc) window.gc();
        return performance.memory.usedJSHeapSize;"""
    try:
        driver.get(server + "/")
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 3)
        driver.execute_script("segserPage.live(true); segserPage.handle({type: 'ready', model: 'default-4class', "
                              "classes: ['angry', 'happy', 'neutral', 'sad']});")
        ten_minutes = driver.execute_script(play, 0, 600)
        ten_hours = driver.execute_script(play, 600, 36000)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#segments tr")) == 300
        assert driver.execute_script("return segserPage.state.segments.length") <= 61
        assert driver.execute_script("return segserPage.state.rows.length") == 36000
        assert (ten_hours - ten_minutes) / 35400 < 600, (ten_minutes, ten_hours)  # bytes per segment
        assert driver.find_element(By.ID, "now").get_attribute("data-label") == "no speech"
        assert driver.execute_script("return segserPage.csvText().split('\\n').length") == 36002
    finally:
        driver.quit()


def test_upload_a_conversation_and_see_its_speakers(server, shared_data, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser(tmp_path)
    try:
        upload(driver, server, shared_data / "conversation" / "sample.wav", speakers=True)
        items = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#speaker-summary li"), timeout=180)
        assert [i.get_attribute("data-speaker") for i in items] == ["S1", "S2"]
        assert all("s of speech" in i.text for i in items)
        rows = driver.find_elements(By.CSS_SELECTOR, "#segments tr")
        assert [r.get_attribute("data-label") for r in rows][:6] == ["no speech"] * 6  # the silent opening
        # a file's headline is its clip decision, not its last segment's label
        decision = driver.find_element(By.ID, "decision").get_attribute("data-label")
        assert driver.find_element(By.ID, "now").get_attribute("data-label") == decision
        driver.save_screenshot(str(tmp_path / "speakers.png"))
    finally:
        driver.quit()


def test_a_conversation_reads_as_a_transcript_under_the_lanes(server, shared_data, tmp_path):
    """With "transcribe" ticked, each utterance is a line: its start, its speaker, its emotion, its words."""
    from selenium.webdriver.common.by import By

    driver = browser(tmp_path)
    try:
        upload(driver, server, shared_data / "conversation" / "sample.wav", speakers=True, transcribe=True)
        lines = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript li"), timeout=300)
        named = [b.text for li in lines for b in li.find_elements(By.TAG_NAME, "b")]
        assert set(named) == {"S1", "S2"} and len(named) >= len(lines) - 2  # words where no voice was found go unnamed
        labels = {li.get_attribute("data-label") for li in lines}
        assert labels and labels <= {"angry", "disgust", "fear", "happy", "neutral", "sad", "uncertain"}
        words = " ".join(li.text.split(")", 1)[1] for li in lines).split()
        assert len(words) >= 20  # the call's first half minute is spoken English throughout
        # the headline carries the probability its label stands on, as the clip line does
        score = driver.find_element(By.CSS_SELECTOR, "#now .p").text
        assert score and f"score {score}" in driver.find_element(By.ID, "decision").text
    finally:
        driver.quit()
