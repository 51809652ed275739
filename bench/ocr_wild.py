"""The second corpus of bench/ocr.py: pictures as customers really send them, drawn
independently of the app's renderer by ``tests/support/ocr_pictures.py`` (a key wrapped
over two lines, serif and proportional fonts, lower case, dark and light themes, scales,
phone photos of a screen, hashes and other keys nearby, pictures with no key at all).

A picture is read right when the reader gives its key, or no key for a picture that holds
none; "none" is no key read where there was one (the agent reads it by eye); "wrong" is
any other key, which must never happen.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from support import REPO, Report, percentile

sys.path.insert(0, str(REPO))  # the generator lives with the tests that use it too

from licensor.support.ocr import read_license_key
from tests.support.ocr_pictures import KINDS, Picture, corpus

TARGET_ACCURACY = 0.97


def measure(
    report: Report,
    *,
    count: int,
    seed: int,
    keep: Path | None,
    verbose: bool,
    cpu_time: Callable[[], float],
) -> tuple[float, int, float]:
    """Read ``count`` pictures; add the figures per kind and in total to the report.

    Returns the share read right, the wrong keys and the most CPU seconds an image took.
    """
    pictures = corpus(count, seed)
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        for number, picture in enumerate(pictures):
            suffix = "png" if picture.data.startswith(b"\x89PNG") else "jpg"
            name = f"wild-{number:04d}-{picture.kind.replace(' ', '-')}.{suffix}"
            (keep / name).write_bytes(picture.data)
    results: dict[str, list[tuple[str, float, float]]] = {kind: [] for kind in KINDS}
    for number, picture in enumerate(pictures):
        started, cpu_started = time.perf_counter(), cpu_time()
        reading = read_license_key(picture.data)
        elapsed, cpu = time.perf_counter() - started, cpu_time() - cpu_started
        outcome = _outcome(picture, reading.license_key)
        results[picture.kind].append((outcome, elapsed, cpu))
        if outcome == "wrong":
            print(f"WRONG KEY ACCEPTED wild #{number} {picture.description}: {reading.license_key}")
        elif outcome == "none" and verbose:
            print(f"miss wild #{number} {picture.description}: read {reading.text!r}")
    everything = [result for kind in KINDS for result in results[kind]]
    for kind, kind_results in [*results.items(), ("all", everything)]:
        if not kind_results:
            continue
        outcomes = [outcome for outcome, _wall, _cpu in kind_results]
        walls = sorted(wall for _outcome, wall, _cpu in kind_results)
        cpus = sorted(cpu for _outcome, _wall, cpu in kind_results)
        report.add(
            corpus="wild",
            kind=kind,
            pictures=len(kind_results),
            right=outcomes.count("right"),
            none=outcomes.count("none"),
            wrong=outcomes.count("wrong"),
            accuracy=round(outcomes.count("right") / len(kind_results), 3),
            p50_s=percentile(walls, 0.5),
            p95_s=percentile(walls, 0.95),
            cpu_p50_s=percentile(cpus, 0.5),
            cpu_p95_s=percentile(cpus, 0.95),
            cpu_max_s=cpus[-1],
        )
    outcomes = [outcome for outcome, _wall, _cpu in everything]
    accuracy = outcomes.count("right") / len(everything) if everything else float("nan")
    slowest_cpu = max((cpu for _outcome, _wall, cpu in everything), default=0.0)
    report.notes.append(
        f"wild corpus seed {seed}: {count} pictures by tests/support/ocr_pictures.py, "
        f"the kinds in turn ({', '.join(KINDS)}); right = the key, or no key where none "
        "is drawn"
    )
    return accuracy, outcomes.count("wrong"), slowest_cpu


def _outcome(picture: Picture, read: str | None) -> str:
    if read == picture.license_key:
        return "right"
    return "none" if read is None else "wrong"
