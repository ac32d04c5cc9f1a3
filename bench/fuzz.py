"""Fuzz every command's flags and the server's API at scale: the same contract as
tests/test_fuzz.py (exit 0, 1 or 2, no traceback, nothing left behind on failure; only
documented HTTP statuses, never 500, and still serving after), over many more cases.

    python bench/fuzz.py [--cases 10000] [--seed 0] [--json FILE]

The cases are split between the five commands and the server in fixed shares. Every case
runs in this process (a subprocess per case would spend its time importing TensorFlow),
each under a time limit; the peak memory of the whole run is printed. A benchmark, not a
test: it prints what it found and exits non-zero on the first broken case.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from common import machine, report  # noqa: E402

# Share of the cases per target: the reader and the server are what users hit most.
SHARES = {"digits.sequence_generator": 0.2, "model.read": 0.3, "model.icr": 0.03,
          "model.export": 0.1, "model.serve": 0.07, "server": 0.3}


def fuzz_target(name: str, cases: int, w: dict, root: Path, seed: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed

    from fuzzing import argv, check_answer, check_command, check_still_serving, request

    base = settings(deadline=None, database=None, max_examples=cases,
                    suppress_health_check=list(HealthCheck))
    counter = itertools.count()
    if name == "server":
        from starlette.testclient import TestClient

        from model.serving.app import create_app

        client = TestClient(create_app(w["run"]))

        @hypothesis_seed(seed)
        @settings(base)
        @given(kwargs=request())
        def case(kwargs):
            check_answer(client, kwargs)
            if next(counter) % 100 == 0:
                check_still_serving(client)

        case()
        check_still_serving(client)
        return
    module = importlib.import_module(name)
    skip = {"model.read": ("--run",), "model.icr": ("--evaluate", "--from", "--overwrite")}
    prefix = {
        "digits.sequence_generator": lambda: ["--count-train", "8", "--count-val", "2",
                                              "--count-test", "2", "--source", "embedded"],
        "model.read": lambda: [str(w["image"]), "--run", str(w["run"])],
        "model.icr": lambda: [str(w["data"]), "--evaluate", str(w["run"])],
        "model.export": lambda: [str(w["mine"])],
        "model.serve": lambda: [str(w["mine"])],
    }[name]

    @hypothesis_seed(seed)
    @settings(base)
    @given(args=argv(module.build_parser(), w["paths"], skip=skip.get(name, ())))
    def case(args):
        out = None
        extra = []
        if name == "digits.sequence_generator":
            out = root / f"out-{next(counter)}"
            extra = ["--out", str(out)]
        check_command(module.main, [*prefix(), *extra, *args], out)

    case()
    assert (w["mine"] / "keep.txt").read_text() == "keep", "a user's file was replaced"


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10_000, help="cases in all (default 10,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    from fuzzing import SEEN, make_world

    results = {"cases": args.cases, "seed": args.seed, "machine": machine(), "targets": {}}
    print(f"machine: {results['machine']}")
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as scratch:
        root = Path(scratch)
        w = make_world(root)
        os.chdir(w["mine"])  # relative paths (".", "x") land here, not where it was run
        print(f"{'target':<28}{'cases':>8}{'seconds':>10}   outcomes")
        for name, share in SHARES.items():
            cases = max(1, round(args.cases * share))
            start = time.perf_counter()
            before = dict(SEEN)
            fuzz_target(name, cases, w, root, args.seed)
            seconds = time.perf_counter() - start
            outcomes = {f"{k[1]}": v - before.get(k, 0) for k, v in SEEN.items()
                        if v - before.get(k, 0)}
            ran = sum(outcomes.values())
            results["targets"][name] = {"cases": ran, "seconds": seconds,
                                        "outcomes": outcomes}
            shown = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
            print(f"{name:<28}{ran:>8}{seconds:>10.1f}   {shown}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["peak_rss_mib"] = peak
    results["total_cases"] = sum(t["cases"] for t in results["targets"].values())
    print(f"{results['total_cases']:,} cases, none broke the contract; peak memory "
          f"{peak:,.0f} MiB")
    return report(results, "fuzz.py", argv, args.json)


if __name__ == "__main__":
    sys.exit(main())
