"""Timing engine and report for `python -m bench` (design.md, "Benchmarks").

Every library runs the same op on the same input, in one process, on the same number of
threads. Per case: check each library's output against numpy's, warm up and pick how many
calls make one sample, then take samples with the libraries interleaved in rotating order
and report the median. The machine is noisy (20-70% between runs of the same call), hence
medians of interleaved samples rather than best-of or back-to-back runs.
"""
import datetime
import functools
import gc
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import bench

SAMPLES = 7
QUICK_SAMPLES = 5
# Each sample runs enough calls to last this long: after the pause, 20 ms samples had not
# reached steady state (fibril's CNN digits step read 1.58 ms there against 1.22 in a plain
# loop, torch 1.74 against 1.53); 0.1 s ones read 1.29 and 1.60.
SAMPLE_S = 0.1
WARMUP_S = 0.05  # page faults on fresh outputs and thread wake-ups settle within this
PAUSE_S = 0.5  # OpenBLAS/OpenMP threads spin 0.1-0.3 s after a call, stealing the next one's cores
POOL_KEYS = ("user_api", "internal_api", "prefix", "version", "architecture",
             "threading_layer", "num_threads")
ROW = "{:<24} {:<7} {:>10} {:>13} {:>7}  {}"  # case, lib, time, throughput, % peak, ratio
BUILD_HINT = "build it first: pip install --no-build-isolation -e . -Cbuild-dir=build"


def assert_same(out, ref, inputs):
    """The default check: the same dtype, shape and values as numpy's result."""
    if out.dtype != ref.dtype or out.shape != ref.shape:
        raise AssertionError(f"got {out.dtype} {out.shape}, numpy gives {ref.dtype} {ref.shape}")
    np.testing.assert_array_equal(out, ref)


@dataclass
class Case:
    """One op written once per library, run on the same numpy inputs."""

    name: str
    work: float  # flops or bytes per call
    unit: str  # 'GFLOP/s' or 'GB/s'
    inputs: Callable[[], tuple]  # makes the numpy inputs; made only when the case runs
    ops: dict[str, Callable]  # library -> op taking the inputs converted to that library
    check: Callable = assert_same  # check(out, ref, inputs) raises if out (as numpy) is wrong
    reference: Callable | None = None  # untimed reference for the check where numpy has no such op
    setup: Callable | None = None  # setup(lib, args) -> the call's args, untimed (e.g. leaves requiring grad)


def import_libraries():
    """Library name -> module, for fibril (required), numpy and the peers that import."""
    try:
        import fibril
    except ImportError as err:
        raise SystemExit(f"fibril does not import ({err}); {BUILD_HINT}") from err
    mods, notes = {"fibril": fibril, "numpy": np}, []
    try:
        import torch
        mods["torch"] = torch
    except ImportError as err:
        notes.append(f"torch does not import ({err}): skipped")
    return mods, notes


def pin_threads(mods, threads):
    """Give every library the same thread count; returns notes on what could not be pinned."""
    mods["fibril"].set_num_threads(threads)
    if "torch" in mods:
        mods["torch"].set_num_threads(threads)
    try:
        import threadpoolctl
    except ImportError:
        return ["threadpoolctl does not import: numpy's BLAS threads are not pinned"]
    threadpoolctl.threadpool_limits(threads)  # BLAS and OpenMP pools: numpy's, torch's
    return []


def threadpools():
    """The BLAS and OpenMP pools loaded (numpy's OpenBLAS kernel, version, threads)."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [{k: p[k] for k in POOL_KEYS if k in p} for p in threadpoolctl.threadpool_info()]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line for line in f if line.startswith("model name"))
        return model.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return platform.processor()


def machine_info(mods, threads):
    fibril = mods["fibril"]
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "fibril_isa": fibril.cpu_isa(),
        "peak": dict(fibril._C.machine_peak()),  # measured now, on `threads` threads
        "threads": threads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {lib: mod.__version__ for lib, mod in mods.items()},
        "threadpools": threadpools(),
        "unset_env": bench.UNSET_ENV,
    }


def time_calls(fn, calls):
    """Seconds for `calls` back-to-back calls; the collector is off, as in timeit."""
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def calibrate(fn):
    """Warm up, doubling the calls, then pick the calls per sample from the last (warm) round."""
    calls, elapsed = 1, 0.0
    while elapsed < WARMUP_S or calls < 4:  # at least two rounds, so the first cold call is out
        elapsed = time_calls(fn, calls)
        calls *= 2
    per_call = elapsed / (calls // 2)
    return max(1, math.ceil(SAMPLE_S / per_call))


def detached(out):
    """A tensor result without its graph, so numpy can read it (torch refuses otherwise)."""
    return out.detach() if getattr(out, "requires_grad", False) else out


def prepare(case, mods, inputs, ref):
    """Library -> (bound call, calls per sample) for those that pass the check; errors apart."""
    ready, errors = {}, {}
    for lib, op in case.ops.items():
        if lib not in mods:
            continue
        args = [x if lib == "numpy" else mods[lib].from_numpy(x) for x in inputs]
        if case.setup is not None:
            args = case.setup(lib, args)
        fn = functools.partial(op, *args)
        try:
            case.check(np.asarray(detached(fn())), ref, inputs)
            time.sleep(PAUSE_S)
            ready[lib] = (fn, calibrate(fn))
        except Exception as err:  # an op not written yet, or a wrong result: time the others
            errors[lib] = f"{type(err).__name__}: {err}"
    return ready, errors


def sample(ready, samples):
    """Library -> per-call seconds of each sample, the libraries interleaved in rotating order."""
    times = {lib: [] for lib in ready}
    order = list(ready)
    for i in range(samples):
        turn = i % len(order)
        for lib in order[turn:] + order[:turn]:
            fn, calls = ready[lib]
            time.sleep(PAUSE_S)
            fn()  # untimed: wakes the library's threads after the pause, so samples are steady state
            times[lib].append(time_calls(fn, calls) / calls)
    return times


def run_case(case, mods, samples, peak):
    """Check, calibrate and time one case; returns its JSON record."""
    inputs = case.inputs()
    ref = np.asarray((case.reference or case.ops["numpy"])(*inputs))
    ready, errors = prepare(case, mods, inputs, ref)
    peak_rate = peak["copy_gbs"] if case.unit == "GB/s" else peak["fma_gflops"]
    libs = {lib: {"error": msg} for lib, msg in errors.items()}
    for lib, times in sample(ready, samples).items():
        median = statistics.median(times)
        rate = case.work / median / 1e9
        libs[lib] = {"median_s": median, "throughput": rate, "pct_peak": 100 * rate / peak_rate,
                     "calls_per_sample": ready[lib][1], "samples_s": times}
    libs = {lib: libs[lib] for lib in case.ops if lib in libs}  # the bench file's order
    record = {"name": case.name, "work": case.work, "unit": case.unit, "libs": libs}
    if "median_s" in libs.get("fibril", {}):
        ours = libs["fibril"]["median_s"]
        record["fibril_speedup"] = {lib: r["median_s"] / ours for lib, r in libs.items()
                                    if lib != "fibril" and "median_s" in r}
    return record


def fmt_time(seconds):
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def fmt_speedup(ratio):
    """Peer time / fibril time, in words, so the direction cannot be misread."""
    return f"fibril {ratio:.2f}x faster" if ratio >= 1 else f"fibril {1 / ratio:.2f}x slower"


def print_header(info, notes):
    peak = info["peak"]
    print(f"{info['cpu']}, {info['cores']} cores; fibril ISA {info['fibril_isa']}; "
          f"threads per library: {info['threads']}")
    print(f"machine peak on {peak['threads']} threads: {peak['fma_gflops']:.1f} GFLOP/s fp32 FMA, "
          f"{peak['copy_gbs']:.1f} GB/s copy (read+write)")
    print("versions: " + ", ".join(f"{lib} {v}" for lib, v in info["versions"].items()))
    for pool in info["threadpools"]:
        print("threadpool: " + ", ".join(f"{k}={v}" for k, v in pool.items()))
    for note in notes:
        print(f"note: {note}")
    print("time: median of interleaved samples; % peak: of the copy peak (GB/s, cache-resident")
    print("cases can pass 100%) or FMA peak (GFLOP/s); last column: lib's time / fibril's time")


def print_case(record):
    for i, (lib, r) in enumerate(record["libs"].items()):
        name = "" if i else record["name"]
        if "error" in r:
            print(ROW.format(name, lib, "-", "-", "-", f"ERROR {r['error'][:120]}"))
            continue
        speedup = record.get("fibril_speedup", {}).get(lib)
        rate = f"{r['throughput']:.1f} {record['unit']}"
        print(ROW.format(name, lib, fmt_time(r["median_s"]), rate, f"{r['pct_peak']:.0f}%",
                         fmt_speedup(speedup) if speedup else ""))


def run(suite, mods, notes, threads, quick, json_path):
    """Time every case of `suite` (family -> cases), print the table, write JSON.

    Returns the exit status: 1 if any library failed its check or raised, else 0.
    """
    threads = mods["fibril"].get_num_threads() if threads is None else threads
    notes = notes + pin_threads(mods, threads)
    if bench.UNSET_ENV:
        unset = ", ".join(f"{k}={v}" for k, v in bench.UNSET_ENV.items())
        notes.append(f"unset for this process, as they slow numpy's OpenBLAS: {unset}")
    if bench.UNSET_ENV and bench.NUMPY_LOADED_FIRST:
        notes.append("numpy was loaded before bench: unsetting OpenBLAS variables came too late")
    info = machine_info(mods, threads)
    if info["peak"]["threads"] != threads:
        notes.append(f"peak measured on {info['peak']['threads']} threads, not {threads}")
    print_header(info, notes)
    samples = QUICK_SAMPLES if quick else SAMPLES
    records = []
    for family, cases in suite.items():
        print(f"\n[{family}]")
        print(ROW.format("case", "lib", "time", "throughput", "% peak", "fibril vs lib"))
        for case in cases:
            record = {"family": family, **run_case(case, mods, samples, info["peak"])}
            print_case(record)
            records.append(record)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": info,
        "method": {"samples": samples, "sample_s": SAMPLE_S, "pause_s": PAUSE_S,
                   "statistic": "median of per-call seconds"},
        "notes": notes,
        "cases": records,
    }
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nwrote {json_path}")
    return int(any("error" in r for rec in records for r in rec["libs"].values()))
