"""Fuzzing every command's flags and the server's API (a few hundred cases; bench/fuzz.py
runs the same at scale): exit 0, 1 or 2, never a traceback, nothing left behind on
failure; the server answers only documented statuses and goes on serving."""

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings

from conftest import SRC
from fuzzing import (
    argv,
    check_answer,
    check_command,
    check_still_serving,
    make_world,
    request,
)

FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
COUNTER = itertools.count()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny run, a tiny dataset, an image, and paths a user might give."""
    w = make_world(tmp_path_factory.mktemp("fuzz"))
    mine = w["mine"]
    # Relative paths (".", "x") land here, never in the repository the tests run from.
    cwd = os.getcwd()
    repository = snapshot(SRC.parent)
    os.chdir(mine)
    yield w
    os.chdir(cwd)
    assert snapshot(SRC.parent) == repository


def fresh(world, name):
    return world["root"] / f"{name}-{next(COUNTER)}"


def test_the_generator(world):
    from digits.sequence_generator import build_parser, main

    @settings(FUZZ, max_examples=60)
    @given(args=argv(build_parser(), world_paths(world)))
    def case(args):
        out = fresh(world, "out")
        check_command(main, ["--count-train", "8", "--count-val", "2", "--count-test", "2",
                             "--source", "embedded", "--out", str(out), *args], out)

    case()
    assert (world["mine"] / "keep.txt").read_text() == "keep"


def test_the_reader(world):
    from model.read import build_parser, main

    @settings(FUZZ, max_examples=60)
    @given(args=argv(build_parser(), world_paths(world), skip=("--run",)))
    def case(args):
        check_command(main, [str(world["image"]), "--run", str(world["run"]), *args])

    case()


def test_the_trainers_evaluation(world):
    from model.icr import build_parser, main

    @settings(FUZZ, max_examples=15)
    @given(args=argv(build_parser(), world_paths(world),
                     skip=("--evaluate", "--from", "--overwrite")))
    def case(args):
        check_command(main, [str(world["data"]), "--evaluate", str(world["run"]), *args])

    case()
    assert (world["mine"] / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize("command", ["model.export", "model.serve"])
def test_export_and_serve_flags(world, command):
    import importlib

    module = importlib.import_module(command)

    @settings(FUZZ, max_examples=40)
    @given(args=argv(module.build_parser(), world_paths(world)))
    def case(args):
        # Not a run: each command must refuse its flags or the run, never start serving.
        check_command(module.main, [str(world["mine"]), *args])

    case()


def test_the_server(world):
    from starlette.testclient import TestClient

    from model.serving.app import create_app

    client = TestClient(create_app(world["run"]))

    @settings(FUZZ, max_examples=120)
    @given(kwargs=request())
    def case(kwargs):
        check_answer(client, kwargs)

    case()
    check_still_serving(client)


def world_paths(world):
    return world["paths"]


def test_every_kind_of_outcome_was_reached():
    """The fuzzers above are not vacuous: each command both succeeded and refused some
    command lines, and the server both read and refused requests."""
    from fuzzing import SEEN

    if not SEEN:
        pytest.skip("run with the fuzzers above")
    for command in ("digits.sequence_generator", "model.read", "model.icr"):
        assert SEEN[(command, 0)] and SEEN[(command, 2)], dict(SEEN)
    assert SEEN[("model.serve /api/read", 200)] and SEEN[("model.serve /api/read", 400)]


def snapshot(root):
    """The repository root's visible entries and their times: a fuzz case that wrote there
    (a relative path taken as the current directory) changes it."""
    return {p.name: p.stat().st_mtime for p in root.iterdir() if not p.name.startswith(".")}
