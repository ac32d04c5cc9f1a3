"""model.serving.app: the JSON API in its three forms, the page, and every bad input a 4xx."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from conftest import png_bytes, untrained_run
from model.reading.reader import read_images
from model.runs import load_run
from model.serving.app import MAX_BODY, create_app

starlette_testclient = pytest.importorskip("starlette.testclient")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained tiny model: what the API does with a reading does not depend on it."""
    root = tmp_path_factory.mktemp("run")
    return untrained_run(root)


@pytest.fixture(scope="module")
def client(run_dir):
    with starlette_testclient.TestClient(create_app(run_dir)) as c:
        yield c




def without_time(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "ms"}


def test_page_static_files_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="pad"' in page.text and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    info = client.get("/api/info").json()
    assert info["beam_width"] == 10 and info["parameters"] > 0 and info["max_body"] == MAX_BODY


def test_three_forms_give_model_reads_answer(client, run_dir, png, tmp_path):
    multipart = client.post("/api/read", files={"image": ("n.png", png, "image/png")})
    raw = client.post("/api/read", content=png, headers={"content-type": "image/png"})
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    as_json = client.post("/api/read", json={"image": data_url})
    plain_b64 = client.post("/api/read", json={"image": base64.b64encode(png).decode()})
    answers = [r.json() for r in (multipart, raw, as_json, plain_b64)]
    assert [r.status_code for r in (multipart, raw, as_json, plain_b64)] == [200] * 4, answers
    assert all(without_time(a) == without_time(answers[0]) for a in answers)
    answer = answers[0]
    assert set(answer) == {"text", "confidence", "sure", "probability", "alternatives", "image",
                           "constraint", "ms"}
    # The same reading as model.read's, with the same image given to the model.
    model, net, _ = load_run(run_dir)
    (tmp_path / "n.png").write_bytes(png)
    expected = read_images([str(tmp_path / "n.png")], model, net, top_k=5)[0]
    assert answer["text"] == expected.text
    assert [a["text"] for a in answer["alternatives"]] == [t for t, _ in expected.alternatives]
    assert [a["probability"] for a in answer["alternatives"]] == pytest.approx(
        [c for _, c in expected.alternatives], rel=1e-3)  # a traced graph vs eager Keras
    assert answer["image"].startswith("data:image/png;base64,")
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["image"].split(",")[1]))))
    np.testing.assert_array_equal(seen, expected.image)
    assert seen.shape[0] == 28 and answer["constraint"] == "any digit string"


def test_constraints_and_top_k(client, png):
    options = {"pattern": "[1-9][0-9]{2}", "allow": "0123789", "top_k": "3"}
    multipart = client.post("/api/read", files={"image": ("n.png", png, "image/png")},
                            data=options)
    raw = client.post("/api/read", content=png, headers={"content-type": "image/png"},
                      params=options)
    as_json = client.post("/api/read", json={"image": base64.b64encode(png).decode(),
                                             "pattern": "[1-9][0-9]{2}", "allow": "0123789",
                                             "top_k": 3, "length": None, "min_length": ""})
    answers = [r.json() for r in (multipart, raw, as_json)]
    assert all(without_time(a) == without_time(answers[0]) for a in answers), answers
    texts = [a["text"] for a in answers[0]["alternatives"]]
    assert texts[0] == answers[0]["text"] and 1 <= len(texts) <= 3
    assert all(len(t) == 3 and t[0] != "0" and set(t) <= set("0123789") for t in texts)
    assert "pattern '[1-9][0-9]{2}'" in answers[0]["constraint"]


def test_min_confidence_marks_a_reading_unsure_and_still_gives_it(client, png):
    plain = client.post("/api/read", content=png, headers={"content-type": "image/png"}).json()
    strict = client.post("/api/read", content=png, headers={"content-type": "image/png"},
                         params={"min_confidence": "1"}).json()
    lenient = client.post("/api/read", json={"image": base64.b64encode(png).decode(),
                                             "min_confidence": 0}).json()
    assert plain["sure"] is True and lenient["sure"] is True and strict["sure"] is False
    assert strict["text"] == plain["text"] and strict["confidence"] == plain["confidence"]
    assert client.get("/api/info").json()["min_confidence"] == 0


def bomb() -> bytes:
    """An 8,000 x 8,000 PNG (64 megapixels) of a few kilobytes."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000
    return buffer.getvalue()


def raw(body, ctype="image/png", **params):
    return {"content": body, "headers": {"content-type": ctype}, "params": params}


def form(png_body, **fields):
    return {"files": {"image": ("n.png", png_body, "image/png")}, "data": fields}


BLANK = np.full((40, 90), 230, np.uint8)
TRUNCATED = "truncated"  # stands for the test image cut in half
IMAGE = "image"  # stands for the test image

BAD_REQUESTS = [
    # What the image is.
    ("not an image", raw(b"hello, world"), 422, "not an image"),
    ("truncated", raw(TRUNCATED), 422, "corrupt or truncated"),
    ("empty body", raw(b""), 400, "empty"),
    ("no ink", raw(png_bytes(BLANK)), 422, "no ink"),
    ("decompression bomb", raw("bomb"), 422, "megapixel"),
    ("too wide for the length", raw(IMAGE, length="60"), 422, "no reading satisfies"),
    # How it is sent.
    ("text/plain", raw(IMAGE, "text/plain"), 415, "text/plain"),
    ("no content type", {"content": b"x"}, 415, "none"),
    ("form without image", {"data": {"length": "3"}, "files": {"other": ("a", b"x")}}, 400,
     "image"),
    ("broken multipart", raw(b"--x\r\nnonsense", "multipart/form-data"), 400, ""),
    ("malformed JSON", raw(b'{"image": "abc"', "application/json"), 400, "malformed JSON"),
    ("JSON not UTF-8", raw(b'{"image": "\xff"}', "application/json"), 400, "malformed JSON"),
    ("JSON array", raw(b"[1, 2]", "application/json"), 400, "object"),
    ("JSON without image", {"json": {"length": 3}}, 400, "'image'"),
    ("JSON image not base64", {"json": {"image": "not base64!"}}, 400, "base64"),
    ("JSON data URL not base64", {"json": {"image": "data:image/png,abc"}}, 400, "base64"),
    # The options.
    ("invalid regex", raw(IMAGE, pattern="(12"), 400, "pattern"),
    ("regex beyond digits", raw(IMAGE, pattern="[a-z]+"), 400, "not supported"),
    ("long pattern", raw(IMAGE, pattern="1" * 2000), 400, "over 1000"),
    ("impossible constraint", raw(IMAGE, length="3", pattern=r"\d{4}"), 400,
     "no string can satisfy"),
    ("length and range", raw(IMAGE, length="2", min_length="1"), 400, "not both"),
    ("length not a number", raw(IMAGE, length="abc"), 400, "whole number"),
    ("negative length", raw(IMAGE, length="-1"), 400, "whole number"),
    ("fractional length", {"json": {"image": IMAGE, "max_length": 2.5}}, 400, "whole number"),
    ("boolean length", {"json": {"image": IMAGE, "length": True}}, 400, "whole number"),
    ("pattern not a string", {"json": {"image": IMAGE, "pattern": 12}}, 400, "string"),
    ("allow not digits", form(IMAGE, allow="12x"), 400, "allow"),
    ("top_k 0", raw(IMAGE, top_k="0"), 400, "top_k"),
    ("top_k over the beam", raw(IMAGE, top_k="11"), 400, "top_k"),
    ("min_confidence over 1", raw(IMAGE, min_confidence="1.5"), 400, "from 0 to 1"),
    ("min_confidence not a number", form(IMAGE, min_confidence="sure"), 400, "from 0 to 1"),
    ("min_confidence a boolean", {"json": {"image": IMAGE, "min_confidence": True}}, 400,
     "from 0 to 1"),
    ("unknown option", raw(IMAGE, colour="red"), 400, "unknown option"),
    ("option twice", {**form(IMAGE, length="3"), "params": {"length": "3"}}, 400, "both"),
]


@pytest.mark.parametrize("what,request_args,status,message", BAD_REQUESTS,
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_is_a_4xx_json_error_and_serving_goes_on(client, png, what, request_args,
                                                          status, message):
    request_args = resolve(request_args, png)
    response = client.post("/api/read", **request_args)
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and message in body["error"], body
    assert "Traceback" not in body["error"]
    assert client.post("/api/read", **raw(png)).status_code == 200


def resolve(args, png):
    """Put the test images in place of their stand-ins."""
    stand_ins = {IMAGE: lambda: png, TRUNCATED: lambda: png[:len(png) // 2], "bomb": bomb}
    out = {}
    for key, value in args.items():
        if key == "content" and isinstance(value, str):
            value = stand_ins[value]()
        elif key == "files":
            value = {k: (n, stand_ins[b]() if isinstance(b, str) else b, *rest)
                     for k, (n, b, *rest) in value.items()}
        elif key == "json" and value.get("image") == IMAGE:
            value = {**value, "image": base64.b64encode(png).decode()}
        out[key] = value
    return out


def test_bodies_over_5_mib_are_refused_declared_or_streamed(client, png):
    big = png + b"\0" * MAX_BODY
    declared = client.post("/api/read", **raw(big))
    streamed = client.post("/api/read", content=iter([big[:MAX_BODY // 2], big[MAX_BODY // 2:]]),
                           headers={"content-type": "image/png"})  # chunked: no length
    as_form = client.post("/api/read", **form(big))
    for response in (declared, streamed, as_form):
        assert response.status_code == 413 and "5 MiB" in response.json()["error"]
    assert client.post("/api/read", **raw(png)).status_code == 200


def test_unknown_routes_and_methods_answer_json(client):
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = client.get("/api/read")
    assert wrong.status_code == 405 and "error" in wrong.json()
