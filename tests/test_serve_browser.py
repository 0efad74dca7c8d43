"""The service's web page in a real headless Chromium: choose a file, drop a file, see results.

Needs Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run`` installs them) and
selenium; skips with the reason otherwise.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers_serve import NAMES, BackgroundServer, saved_tiny_model

pytest.importorskip("uvicorn", reason="the service needs the [serve] extra")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed ([dev])")

_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (_CHROMIUM and _DRIVER),
    reason="headless Chromium not found: apt-get install chromium chromium-driver",
)

_DROP = """
const [b64, name, type] = arguments;
const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
const dt = new DataTransfer();
dt.items.add(new File([bytes], name, {type}));
const zone = document.getElementById('drop');
zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):  # type: ignore[no-untyped-def]
    from selenium.webdriver.chrome.service import Service

    from xraycls.calibration import Calibration
    from xraycls.predict import Classifier
    from xraycls.serve import create_app
    from xraycls.zoo import update_model_info

    root = tmp_path_factory.mktemp("browser")
    path = saved_tiny_model(root / "m.keras")
    update_model_info(path, {"calibration": Calibration(threshold=0.3, refer_below=0.2).to_dict()})
    server = BackgroundServer(create_app(Classifier.load(path)))
    options = webdriver.ChromeOptions()
    options.binary_location = _CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,900"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(_DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver, server, root
    finally:
        driver.quit()
        server.stop()


def _wait(driver, script: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def _png(path: Path) -> Path:
    img = np.zeros((90, 70), np.uint8)
    cv2.circle(img, (35, 45), 25, 200, -1)
    cv2.imwrite(str(path), img)
    return path


def _shown_result(driver) -> dict:  # type: ignore[no-untyped-def, type-arg]
    _wait(driver, "return document.getElementById('result').classList.contains('shown')"
                  " && document.getElementById('overlay').naturalWidth > 0")  # fmt: skip
    return dict(
        driver.execute_script(
            "return {decision: document.getElementById('decision').textContent,"
            " rows: [...document.querySelectorAll('#probs tr')].map(r => r.cells[0].textContent),"
            " overlay: document.getElementById('overlay').naturalWidth,"
            " error: document.getElementById('error').textContent}"
        )
    )


def test_choose_a_file_and_see_the_decision(page) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    driver, server, root = page
    driver.get(server.url + "/")
    _wait(driver, "return document.getElementById('model').textContent.includes('calibrated')")
    image = _png(root / "scan.png")
    driver.execute_script("document.getElementById('file').hidden = false")
    driver.find_element(By.ID, "file").send_keys(str(image))
    got = _shown_result(driver)
    assert got["decision"] in ("COVID", "not COVID", "refer") and got["rows"] == NAMES
    assert got["overlay"] == 256 and got["error"] == ""


def test_drop_an_xray_and_see_the_heat_map(page) -> None:  # type: ignore[no-untyped-def]
    driver, server, root = page
    driver.get(server.url + "/")
    _wait(driver, "return document.getElementById('model').textContent.includes('classes')")
    data = base64.b64encode(_png(root / "drop.png").read_bytes()).decode()
    driver.execute_script(_DROP, data, "drop.png", "image/png")
    got = _shown_result(driver)
    assert got["decision"] in ("COVID", "not COVID", "refer") and got["rows"] == NAMES
    shot = Path(os.environ.get("XRAYCLS_SCREENSHOT_DIR", root)) / "serve_page.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_dropping_a_non_image_shows_the_reason(page) -> None:  # type: ignore[no-untyped-def]
    driver, server, _ = page
    driver.get(server.url + "/")
    data = base64.b64encode(b"just some notes, not an image").decode()
    driver.execute_script(_DROP, data, "notes.txt", "text/plain")
    _wait(driver, "return document.getElementById('error').textContent.length > 0")
    text = driver.execute_script("return document.getElementById('error').textContent")
    assert "notes.txt" in text and "not a PNG, JPEG or DICOM" in text


def test_page_names_sources_without_recorded_ages(page) -> None:  # type: ignore[no-untyped-def]
    # cxr3's children have no recorded age: "ages 18-83" alone would read as "adults only".
    from xraycls.predict import Classifier
    from xraycls.serve import create_app
    from xraycls.zoo import update_model_info

    driver, _, root = page
    path = saved_tiny_model(root / "ages.keras")
    kids = {"images": 4, "classes": {"Normal": 4}, "age": None}
    adults = {
        "images": 2,
        "classes": {"COVID": 2},
        "age": {"min": 18.0, "max": 83.0, "median": 50.5, "known": 2, "unknown": 0},
    }
    data = {
        "classes": list(NAMES),
        "n_images": 6,
        "sources": {"adults": adults, "kids": kids},
        "age": {"min": 18.0, "max": 83.0, "median": 50.5, "known": 2, "unknown": 4},
        "label_maps": {},
        "notes": [],
    }
    update_model_info(path, {"training_data": data})
    server = BackgroundServer(create_app(Classifier.load(path)))
    try:
        driver.get(server.url + "/")
        _wait(driver, "return document.getElementById('trained').textContent.length > 0")
        text = driver.find_element("id", "trained").text
    finally:
        server.stop()
    assert "ages 18-83, median 50.5 (known for 2 of 6; none recorded for kids)" in text, text
