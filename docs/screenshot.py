"""The README's picture of the web page: a real recording (EmoDB speaker 03, one
utterance per emotion, 16 kHz originals) uploaded to a running `segser serve`
in headless Chromium. Needs Debian's chromium + chromium-driver and selenium.

    python docs/screenshot.py            # writes docs/img/page.png
"""
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segser.serving.service import create_app  # noqa: E402
from segser.settings import data_dir  # noqa: E402
from tests.conftest import serve_in_thread  # noqa: E402
from tests.integration.test_browser import browser, wait  # noqa: E402


def main():
    from selenium.webdriver.common.by import By

    port = next(serve_in_thread(create_app(["default"])))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        order = ["03a01Nc", "03a01Wa", "03a04Ad", "03a01Fa", "03a02Ta", "03b10Ec", "03a04Lc"]
        parts = [sf.read(str(data_dir() / "emodb-originals" / f"{n}.wav"), dtype="float32")[0] for n in order]
        x = np.concatenate([np.concatenate([p, np.zeros(4000, np.float32)]) for p in parts])
        sf.write(str(tmp / "emodb-speaker03.wav"), x, 16000)
        driver = browser(tmp)
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
            driver.find_element(By.ID, "file").send_keys(str(tmp / "emodb-speaker03.wav"))
            driver.find_element(By.ID, "analyse").click()
            wait(driver, lambda d: d.find_element(By.ID, "decision").get_attribute("data-label"))
            driver.set_window_size(1280, 760)
            out = Path(__file__).parent / "img" / "page.png"
            driver.save_screenshot(str(out))
            print(f"wrote {out}")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
