"""The demo page in a real browser (Debian's headless Chromium through Selenium).

The browser writes digit strings on the pad with real pointer input (mouse and touch) and
uploads an image made by the project's generator; the page must show exactly what the JSON
API and model.read say of the same image. The tiny model here is untrained, so what it
reads means nothing; a trained run, when there is one (models/mnist-crnn or runs/mnist),
must also read back the digits that were written.

Skips when Chromium or ChromeDriver is missing, except under CI, where scripts/setup.sh
installs them, so their absence is a failure there.
"""

import base64
import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image

import browser
from conftest import untrained_run
from digits.compose import ComposeConfig, compose
from digits.sources import load_mnist
from model.reading.reader import read_images
from model.runs import RUNS_DIR, SHIPPED_RUN, load_run
from servers import running

TRAINED = next((run for run in (SHIPPED_RUN, RUNS_DIR / "mnist")
                if (run / "model.keras").is_file()), None)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    reason = browser.missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    with browser.chromium(tmp_path_factory.mktemp("chromium-profile")) as d:
        yield d


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return untrained_run(root)


@pytest.fixture(scope="module")
def server(driver, run_dir):
    with running(run_dir) as url:
        yield url


def api_read(url: str, image: bytes, **options) -> tuple[int, dict]:
    """POST the image to /api/read as a raw body, options in the query string."""
    query = "?" + urllib.parse.urlencode(options) if options else ""
    request = urllib.request.Request(f"{url}/api/read{query}", data=image, method="POST",
                                     headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def sent_image(driver) -> bytes:
    """The bytes of the image the page sent last (the writing cut out of the pad)."""
    data_url = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const reader = new FileReader();
        reader.onload = () => done(reader.result);
        reader.readAsDataURL(source.blob);
    """)
    return base64.b64decode(data_url.split(",", 1)[1])


def decode_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def assert_same_reading(shown: dict, answer: dict) -> None:
    """The page shows the API's answer: the text, the confidence, every alternative in
    order, and the very image the model saw."""
    assert shown["error"] is None
    assert shown["text"] == answer["text"] and shown["confidence"] == answer["confidence"]
    assert shown["alternatives"] == answer["alternatives"]
    assert shown["image"] == answer["image"]


def open_page(driver, url: str):
    driver.get(url + "/")
    return driver.find_element("id", "pad")


def test_writing_with_a_mouse_shows_what_the_api_reads(driver, server):
    pad = open_page(driver, server)
    browser.write(driver, pad, "4096", pointer="mouse")
    strokes = len(browser.layout("4096", 1, 1))
    assert browser.wait_for_reading(driver, strokes=strokes) == "done"
    shown = browser.shown_reading(driver)
    image = sent_image(driver)
    status, answer = api_read(server, image)
    assert status == 200
    assert_same_reading(shown, answer)
    assert len(shown["alternatives"]) == 5 and shown["alternatives"][0]["text"] == shown["text"]
    assert driver.find_element("id", "model-input").is_displayed()
    assert answer["sure"] and not driver.find_element("id", "unsure").is_displayed()
    assert decode_data_url(shown["image"]).shape[0] == 28
    # The page sent the writing with paper around it, dark on white.
    sent = np.asarray(Image.open(io.BytesIO(image)).convert("L"))
    assert sent.min() == 0 and (sent[0] == 255).all() and (sent[:, 0] == 255).all()


def test_writing_by_touch_with_constraints(driver, server):
    pad = open_page(driver, server)
    options = driver.find_element("id", "options")
    options.find_element("name", "length").send_keys("3")
    options.find_element("name", "allow").send_keys("1237")
    options.find_element("name", "top_k").clear()
    options.find_element("name", "top_k").send_keys("3")
    options.find_element("name", "min_confidence").send_keys("1")  # every reading unsure
    browser.write(driver, pad, "127", pointer="touch")
    assert browser.wait_for_reading(driver, strokes=len(browser.layout("127", 1, 1))) == "done"
    shown = browser.shown_reading(driver)
    texts = [a["text"] for a in shown["alternatives"]]
    assert 1 <= len(texts) <= 3 and all(len(t) == 3 and set(t) <= set("1237") for t in texts)
    status, answer = api_read(server, sent_image(driver), length=3, allow="1237", top_k=3,
                              min_confidence=1)
    assert status == 200
    assert_same_reading(shown, answer)
    assert answer["sure"] is False and driver.find_element("id", "unsure").is_displayed()
    assert "length 3" in driver.find_element("id", "meta").text
    # Clear empties the pad and the reading.
    driver.find_element("id", "clear").click()
    assert driver.find_element("id", "result").get_attribute("data-state") == "idle"
    assert not driver.find_element("id", "model-input").is_displayed()


def test_uploading_a_generated_image_shows_what_model_read_reads(driver, server, run_dir,
                                                                 tmp_path):
    mnist = load_mnist("embedded")
    chunk = compose(mnist.x_test, mnist.y_test, 1, ComposeConfig(min_length=6, max_length=6),
                    np.random.default_rng(7))
    scan = Image.fromarray(255 - chunk.images[0]).resize(
        (chunk.images[0].shape[1] * 3, 84), Image.Resampling.BICUBIC)  # dark ink on paper
    path = tmp_path / f"number-{chunk.texts[0]}.png"
    scan.save(path)
    open_page(driver, server)
    before = browser.requests_sent(driver)
    driver.find_element("id", "file").send_keys(str(path))
    assert browser.wait_for_reading(driver, after=before) == "done"
    shown = browser.shown_reading(driver)
    assert driver.find_element("id", "upload-preview").is_displayed()
    model, net, _ = load_run(run_dir)
    expected = read_images([str(path)], model, net, top_k=5)[0]
    assert shown["text"] == expected.text
    assert [a["text"] for a in shown["alternatives"]] == [t for t, _ in expected.alternatives]
    assert [a["probability"] for a in shown["alternatives"]] == pytest.approx(
        [c for _, c in expected.alternatives], rel=1e-3)  # the server runs a traced graph
    np.testing.assert_array_equal(decode_data_url(shown["image"]), expected.image)
    status, answer = api_read(server, path.read_bytes())
    assert status == 200
    assert_same_reading(shown, answer)


def test_a_bad_upload_shows_the_error_and_the_page_goes_on(driver, server, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_text("not an image at all")
    pad = open_page(driver, server)
    before = browser.requests_sent(driver)
    driver.find_element("id", "file").send_keys(str(junk))
    assert browser.wait_for_reading(driver, after=before) == "error"
    assert "not an image" in driver.find_element("id", "error").text
    browser.write(driver, pad, "5", pointer="pen")
    assert browser.wait_for_reading(driver, strokes=len(browser.layout("5", 1, 1))) == "done"


@pytest.mark.skipif(TRAINED is None, reason="no trained run (models/mnist-crnn or runs/mnist)")
def test_a_trained_model_reads_what_was_written(driver):
    with running(TRAINED) as url:
        pad = open_page(driver, url)
        for text in ("90210", "4711", "3586"):
            driver.find_element("id", "clear").click()
            browser.write(driver, pad, text)
            strokes = len(browser.layout(text, 1, 1))
            assert browser.wait_for_reading(driver, strokes=strokes) == "done"
            assert browser.shown_reading(driver)["text"] == text
