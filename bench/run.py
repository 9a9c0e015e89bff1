"""Command line: `python -m bench` or `python bench/run.py`, from the repository root.

Each bench/bench_<family>.py defines `cases(quick) -> list[harness.Case]`.
"""
import argparse
import importlib
import pathlib
import sys

BENCH_DIR = pathlib.Path(__file__).resolve().parent
if not __package__:  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(BENCH_DIR.parent))

from bench import harness  # noqa: E402  (bench/__init__ unsets OpenBLAS variables first)


def families():
    """Family names, from the bench_<family>.py files."""
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time fibril side by side with numpy and PyTorch, on the same threads.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples and shapes, for a short demo")
    parser.add_argument("--family", choices=families(), help="run this family only (default: all)")
    parser.add_argument("--threads", type=int,
                        help="threads for every library (default: fibril.get_num_threads())")
    parser.add_argument("--json", type=pathlib.Path, default=BENCH_DIR / "results.json",
                        help="where to write the results (default: bench/results.json)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    mods, notes = harness.import_libraries()  # before the families, which use fibril's names
    names = [args.family] if args.family else families()
    suite = {name: importlib.import_module(f"bench.bench_{name}").cases(args.quick)
             for name in names}
    return harness.run(suite, mods, notes, args.threads, args.quick, args.json)


if __name__ == "__main__":
    sys.exit(main())
