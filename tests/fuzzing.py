"""Fuzzing every command's flags and the server's API with hypothesis: shared by
tests/test_fuzz.py (a few hundred cases in CI) and bench/fuzz.py (tens of thousands).

A case passes when the command exits 0, 1 or 2 with no traceback on stderr, and a failed
one left nothing at its output path; when the server answers only a documented status
(never 500) and still reads a normal request afterwards."""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import io
import json
import signal
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from PIL import Image

# Values a user might type for any numeric or text flag: in range, at both ends of a
# range, far beyond it, not numbers at all. Valid but huge values (a million sequences)
# are left out: they are allowed, and only slow.
NUMBERS = ["0", "1", "2", "3", "-1", "-0", "0.5", "1e-9", "nan", "inf", "-inf", "1e309",
           "99999999999999999999", "65536", "1e9", "", "x", "3,4", "2x2", "0x10", " 7"]
PATTERNS = ["", "(", ")", "[", "\\", ".*1.{16}", "\\d{3}", "[0-5]+", "(1|2){2,3}", "x",
            "a{99999}", "(((((1)))))", "1{1001}"]
DOCUMENTED = {200, 400, 413, 415, 422, 503}
CASE_SECONDS = 60  # one command on tiny data; far more means an unbounded loop
# What the cases ended in: (what ran, exit status or HTTP status) -> count.
SEEN: collections.Counter = collections.Counter()


def flag_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The optional flags a command's parser takes, but for --help."""
    return [a for a in parser._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)]


@st.composite
def argv(draw, parser: argparse.ArgumentParser, paths: list[str], skip=()) -> list[str]:
    """A random command line from the parser's own flags: each drawn flag gets a value
    a user could type (a number, a pattern, a path, a choice, or garbage)."""
    actions = [a for a in flag_actions(parser) if not set(a.option_strings) & set(skip)]
    chosen = draw(st.lists(st.sampled_from(actions), max_size=4, unique_by=id))
    out: list[str] = []
    for action in chosen:
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            out.append(flag)
            continue
        if action.choices:
            value = draw(st.sampled_from([*map(str, action.choices), "nope", ""]))
        elif "pattern" in flag:
            value = draw(st.sampled_from(PATTERNS))
        elif action.type is Path or "dir" in flag or flag in ("--out", "--mnist", "--from",
                                                              "--evaluate", "--examples",
                                                              "--run"):
            value = draw(st.sampled_from(paths))
        else:
            value = draw(st.sampled_from(NUMBERS) | st.text(max_size=6))
        out += [flag, value]
    return out


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError if the block runs longer than ``seconds`` (main thread only)."""
    def expire(signum, frame):
        raise TimeoutError(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_command(main, args: list[str], capsys=None) -> tuple[int, str]:
    """(exit status, stderr) of ``main(args)`` in this process, argparse's exits included."""
    err = io.StringIO()
    with time_limit(CASE_SECONDS), contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(args)
        except SystemExit as e:
            status = e.code
    return status, err.getvalue()


def check_command(main, args: list[str], out: Path | None = None) -> None:
    """The fuzzing contract for one command line; AssertionError says which broke."""
    existed = out is not None and out.exists()
    status, err = run_command(main, args)
    SEEN[(main.__module__, status)] += 1
    assert status in (0, 1, 2), (args, status, err[-2000:])
    assert "Traceback" not in err, (args, err[-2000:])
    if status == 2:  # a usage error: refused before any work
        assert len(err.strip().splitlines()) >= 1, (args, "no message")
    if status != 0 and out is not None and not existed:
        assert not out.exists(), (args, f"{out} left behind after exit {status}")


def image_bytes(kind: str, size: tuple[int, int] = (60, 30)) -> bytes:
    """An image file's bytes: a dark stroke on light paper, in a few formats."""
    paper = np.full(size[::-1], 230, np.uint8)
    paper[5:25, 28:32] = 20
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format=kind)
    return buffer.getvalue()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
OPTION_NAMES = ["length", "min_length", "max_length", "pattern", "allow", "top_k", "image",
                "bogus"]


@st.composite
def request(draw) -> dict:
    """Keyword arguments for a TestClient ``post("/api/read", ...)``: any content type,
    body and query string, well-formed or not."""
    png = image_bytes("PNG")
    kind = draw(st.sampled_from(["json", "raw", "multipart", "garbage"]))
    query = draw(st.dictionaries(st.sampled_from(OPTION_NAMES),
                                 st.sampled_from(NUMBERS + PATTERNS), max_size=3))
    if kind == "json":
        body = draw(st.dictionaries(st.sampled_from(OPTION_NAMES), JSON_VALUES, max_size=4))
        if draw(st.booleans()):
            body["image"] = draw(st.sampled_from([
                base64.b64encode(png).decode(), "data:image/png;base64,"
                + base64.b64encode(png).decode(), "data:image/png,xx", "!!!", ""]))
        content = draw(st.sampled_from([json.dumps(body).encode(), b"[" * 5000, b"{",
                                        b"\xff\xfe", b"null", json.dumps([body]).encode()]))
        return {"content": content, "params": query,
                "headers": {"content-type": "application/json"}}
    if kind == "raw":
        data = draw(st.sampled_from([png, image_bytes("JPEG"), png[:40], b"", b"GIF89a",
                                     image_bytes("PNG", (4000, 3)), image_bytes("BMP")]))
        ctype = draw(st.sampled_from(["image/png", "image/jpeg", "application/octet-stream",
                                      "image/x-unknown"]))
        return {"content": data, "params": query, "headers": {"content-type": ctype}}
    if kind == "multipart":
        fields = draw(st.dictionaries(st.sampled_from(OPTION_NAMES[:-2]),
                                      st.sampled_from(NUMBERS + PATTERNS), max_size=3))
        files = {"image": ("n.png", png, "image/png")} if draw(st.booleans()) else {
            "other": ("n.png", png, "image/png")}
        return {"data": fields, "files": files, "params": query}
    return {"content": draw(st.binary(max_size=64)), "params": query,
            "headers": {"content-type": draw(st.sampled_from(
                ["text/plain", "", "multipart/form-data", "application/xml"]))}}


def check_answer(client, kwargs: dict) -> int:
    """The server answers a fuzzed request with a documented status and a JSON error."""
    answer = client.post("/api/read", **kwargs)
    SEEN[("model.serve /api/read", answer.status_code)] += 1
    assert answer.status_code in DOCUMENTED, (kwargs, answer.status_code, answer.text[:500])
    if answer.status_code != 200:
        assert "error" in answer.json(), answer.text[:500]
    return answer.status_code


def check_still_serving(client) -> None:
    answer = client.post("/api/read", content=image_bytes("PNG"),
                         headers={"content-type": "image/png"})
    assert answer.status_code == 200 and "text" in answer.json(), answer.text[:500]


def make_world(root: Path) -> dict:
    """What the fuzzers point commands at, under ``root``: a tiny untrained run, a tiny
    dataset, an image, a directory of a user's own files, and the paths a user might give
    (missing, a file, a directory, unwritable, empty, the current directory)."""
    from conftest import fake_mnist, untrained_run
    from digits.compose import ComposeConfig
    from digits.dataset import Counts, write_dataset

    (root / "run").mkdir()
    run = untrained_run(root / "run")
    data = root / "data"
    write_dataset(data, fake_mnist(), ComposeConfig(min_length=1, max_length=3),
                  Counts(16, 8, 8), seed=1)
    image = root / "n.png"
    paper = np.full((30, 60), 230, np.uint8)
    paper[5:25, 28:32] = 20
    Image.fromarray(paper).save(image)
    mine = root / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("keep")
    return {"root": root, "run": run, "data": data, "image": image, "mine": mine,
            "paths": [str(root / "missing"), str(image), str(mine), "/proc/x", str(run),
                      str(data), "", "."]}
