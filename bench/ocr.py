"""The license key read from screenshots: accuracy, wrong keys accepted, seconds an image.

Target (SPEC, Targets): the key read correctly from at least 97% of at least 300 varied
screenshots, under 2 s each; no wrong key ever accepted.

The corpus is made here, from a seed, by the reference app's own renderer
(``licensor_app.screenshot.render_license_details``): random valid license keys
(``formats.license_key_from_data``), five themes (the app's light and dark, and three a
customer's desktop may impose: sepia, high contrast, a mid-blue), scales 1.0 to 2.0, the
fonts a Debian desktop may have as its sans and monospace fonts (the app draws the key
in the system's monospace font): labels in DejaVu Sans, Sans Bold or Serif, Liberation
Sans, Sans Bold or Serif; the key in DejaVu Sans Mono or Sans Mono Bold, Liberation Mono
Regular or Bold, or Noto Mono (Debian's fonts-dejavu-core, fonts-liberation2 and
fonts-noto-mono, which .ci/run installs; a font not installed is left out, and said to
be), English and Italian, PNG or JPEG at quality 40 to 95 (WebP for a few). Then
``--invalid`` more screenshots show a key with one digit changed, whose check value
fails: any of those read as verified would be a wrong key accepted too.

Besides the totals, it prints the accuracy by key font, label font, theme, format,
language and scale.

Then ``--wild`` pictures (default 300) drawn apart from the app's renderer, as customers
really send them (``ocr_wild.py``, ``tests/support/ocr_pictures.py``): figures per kind of
picture (read right, none, wrong; seconds p50 and p95) and in total.

Each image is read by ``licensor.support.ocr.read_license_key`` from its encoded bytes,
one at a time (Tesseract runs one thread), timed around the whole call: wall time, and
CPU time of this process and of the Tesseract runs (less moved by other work).

    .venv/bin/python bench/ocr.py [--count 300] [--invalid 30] [--seed 6] [--keep DIR]
                                  [--wild 300] [--wild-seed 16]
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import ocr_wild
from support import Report, command_line, percentile

from licensor.licensing.formats import format_license_key, license_key_from_data
from licensor.support.ocr import read_license_key
from licensor_app.screenshot import THEMES, Theme, render_license_details

TARGET_ACCURACY = 0.97
TARGET_SECONDS = 2.0

EXTRA_THEMES = {
    "sepia": Theme(
        background=(244, 236, 216),
        title_bar=(226, 214, 186),
        title_text=(60, 48, 30),
        text=(60, 48, 30),
        muted=(120, 104, 80),
        key_background=(250, 244, 228),
        key_text=(70, 54, 32),
        border=(200, 186, 160),
        button=(150, 90, 40),
        button_text=(255, 255, 255),
    ),
    "high_contrast": Theme(
        background=(0, 0, 0),
        title_bar=(0, 0, 0),
        title_text=(255, 255, 0),
        text=(255, 255, 255),
        muted=(255, 255, 0),
        key_background=(0, 0, 0),
        key_text=(255, 255, 0),
        border=(255, 255, 255),
        button=(0, 0, 255),
        button_text=(255, 255, 255),
    ),
    "blue": Theme(
        background=(40, 70, 120),
        title_bar=(30, 54, 96),
        title_text=(230, 236, 246),
        text=(230, 236, 246),
        muted=(170, 186, 214),
        key_background=(56, 92, 150),
        key_text=(250, 250, 255),
        border=(90, 120, 170),
        button=(240, 180, 40),
        button_text=(20, 20, 20),
    ),
}
ALL_THEMES: dict[str, Theme] = {**THEMES, **EXTRA_THEMES}
FONTS_DIR = Path("/usr/share/fonts/truetype")
# Debian's fonts-dejavu-core, fonts-liberation2 and fonts-noto-mono: what .ci/run installs.
LABEL_FONTS = [
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSerif.ttf",
    "liberation2/LiberationSans-Regular.ttf",
    "liberation2/LiberationSans-Bold.ttf",
    "liberation2/LiberationSerif-Regular.ttf",
]
KEY_FONTS = [
    "dejavu/DejaVuSansMono.ttf",
    "dejavu/DejaVuSansMono-Bold.ttf",
    "liberation2/LiberationMono-Regular.ttf",
    "liberation2/LiberationMono-Bold.ttf",
    "noto/NotoMono-Regular.ttf",
]
DEBIAN_FONT_PACKAGES = "fonts-dejavu-core fonts-liberation2 fonts-noto-mono"
PLANS = ["Standard", "Plus", "Premium", "Family 5 devices"]


@dataclass(frozen=True)
class Shot:
    license_key: str  # as drawn
    valid: bool  # its check value holds
    theme: str
    scale: float
    language: str
    label_font: str
    key_font: str
    format: str  # png, jpeg, webp
    quality: int  # lossy formats only
    data: bytes

    def describe(self) -> str:
        quality = f" q{self.quality}" if self.format != "png" else ""
        return (
            f"{self.theme} x{self.scale:.2f} {self.language} {self.label_font}/"
            f"{self.key_font} {self.format}{quality}"
        )


def installed(names: list[str]) -> list[str]:
    """The fonts of ``names`` that are installed (paths under FONTS_DIR)."""
    return [name for name in names if (FONTS_DIR / name).is_file()]


def font_name(path: str) -> str:
    return Path(path).stem


def altered(license_key: str, rng: random.Random) -> str:
    """The key with one digit changed: its check value fails."""
    position = rng.randrange(len(license_key))
    digit = rng.choice([d for d in "0123456789ABCDEF" if d != license_key[position]])
    return license_key[:position] + digit + license_key[position + 1 :]


def make_shot(
    rng: random.Random, *, valid: bool, label_fonts: list[str], key_fonts: list[str]
) -> Shot:
    license_key = license_key_from_data(rng.randbytes(13))
    if not valid:
        license_key = altered(license_key, rng)
    theme = rng.choice(sorted(ALL_THEMES))
    scale = round(rng.uniform(1.0, 2.0), 2)
    language = rng.choice(["en", "it"])
    label_font = rng.choice(label_fonts)
    key_font = rng.choice(key_fonts)
    image_format = rng.choices(["png", "jpeg", "webp"], weights=[45, 45, 10])[0]
    quality = rng.randint(40, 95)
    image = render_license_details(
        license_key,
        "LIC-" + "".join(rng.choices("0123456789ABCDEFGHJKMNPQRSTVWXYZ", k=4)) + "-PPD4",
        rng.choice(PLANS),
        date(2027, 1, 1) + timedelta(days=rng.randrange(1000)),
        language=language,
        theme=ALL_THEMES[theme],
        scale=scale,
        font_path=FONTS_DIR / label_font,
        mono_font_path=FONTS_DIR / key_font,
    )
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, "PNG")
    else:
        image.save(buffer, image_format.upper(), quality=quality)
    return Shot(
        license_key,
        valid,
        theme,
        scale,
        language,
        font_name(label_font),
        font_name(key_font),
        image_format,
        quality,
        buffer.getvalue(),
    )


def scale_band(shot: Shot) -> str:
    low = min(1.75, int(shot.scale * 4) / 4)
    return f"{low:.2f}-{low + 0.25:.2f}"


# Accuracy is also printed for each value of these.
BREAKDOWNS: dict[str, Callable[[Shot], str]] = {
    "key font": lambda shot: shot.key_font,
    "label font": lambda shot: shot.label_font,
    "theme": lambda shot: shot.theme,
    "format": lambda shot: shot.format,
    "language": lambda shot: shot.language,
    "scale": scale_band,
}


def cpu_time() -> float:
    """CPU seconds of this process and of its finished children (the Tesseract runs):
    what an image costs, whatever else the machine is doing."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="screenshots of valid keys")
    parser.add_argument(
        "--invalid", type=int, default=30, help="screenshots of keys whose check fails"
    )
    parser.add_argument("--seed", type=int, default=6, help="the corpus's random seed")
    parser.add_argument(
        "--wild", type=int, default=300, help="pictures drawn apart from the app (ocr_wild.py)"
    )
    parser.add_argument("--wild-seed", type=int, default=16, help="the wild corpus's seed")
    parser.add_argument("--keep", type=Path, help="write the screenshots to this directory")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--verbose", action="store_true", help="print every miss")
    args = parser.parse_args()
    if shutil.which("tesseract") is None:
        raise SystemExit("tesseract not found: install Debian's tesseract-ocr tesseract-ocr-eng")

    label_fonts, key_fonts = installed(LABEL_FONTS), installed(KEY_FONTS)
    if not label_fonts or not key_fonts:
        raise SystemExit(f"no fonts in {FONTS_DIR}: install Debian's {DEBIAN_FONT_PACKAGES}")

    report = Report("ocr", "no database", command_line())
    rng = random.Random(args.seed)
    fonts = {"label_fonts": label_fonts, "key_fonts": key_fonts}
    shots = [make_shot(rng, valid=True, **fonts) for _ in range(args.count)]
    shots += [make_shot(rng, valid=False, **fonts) for _ in range(args.invalid)]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for number, shot in enumerate(shots):
            suffix = {"png": "png", "jpeg": "jpg", "webp": "webp"}[shot.format]
            name = f"{number:04d}-{'valid' if shot.valid else 'invalid'}.{suffix}"
            (args.keep / name).write_bytes(shot.data)

    correct = wrong = unverified = invalid_accepted = 0
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    passes: list[int] = []
    checks: list[int] = []  # over every screenshot, the invalid ones too
    outcomes: list[tuple[Shot, str]] = []  # each valid shot: correct, wrong or unverified
    for number, shot in enumerate(shots):
        started, cpu_started = time.perf_counter(), cpu_time()
        reading = read_license_key(shot.data)
        elapsed, cpu = time.perf_counter() - started, cpu_time() - cpu_started
        checks.append(reading.checks)
        if shot.valid:
            seconds.append(elapsed)
            cpu_seconds.append(cpu)
            passes.append(reading.passes)
        if reading.verified and reading.license_key == shot.license_key:
            correct += 1
            outcome = "correct"
        elif reading.verified:
            # A verified reading of an invalid key, or of another valid key.
            if shot.valid:
                wrong += 1
            else:
                invalid_accepted += 1
            outcome = "wrong"
            print(
                f"WRONG KEY ACCEPTED #{number} {shot.describe()}: "
                f"{reading.license_key} for {shot.license_key}"
            )
        else:
            outcome = "unverified"
        if shot.valid:
            outcomes.append((shot, outcome))
        if shot.valid and outcome == "unverified":
            unverified += 1
            if args.verbose:
                print(
                    f"miss #{number} {shot.describe()}: read {reading.text!r}, "
                    f"drawn {format_license_key(shot.license_key)}"
                )

    seconds.sort()
    cpu_seconds.sort()
    accuracy = correct / args.count if args.count else float("nan")
    report.add(
        screenshots=args.count,
        correct=correct,
        accuracy=round(accuracy, 4),
        wrong_accepted=wrong,
        unverified=unverified,
        mean_s=statistics.fmean(seconds) if seconds else float("nan"),
        p95_s=percentile(seconds, 0.95),
        max_s=seconds[-1] if seconds else float("nan"),
        mean_passes=statistics.fmean(passes) if passes else float("nan"),
    )
    report.add(
        cpu_mean_s=statistics.fmean(cpu_seconds) if cpu_seconds else float("nan"),
        cpu_p95_s=percentile(cpu_seconds, 0.95),
        cpu_max_s=cpu_seconds[-1] if cpu_seconds else float("nan"),
    )
    report.add(
        invalid_key_screenshots=args.invalid,
        accepted=invalid_accepted,
        mean_checks=statistics.fmean(checks) if checks else float("nan"),
        max_checks=max(checks, default=0),
    )
    for name, value_of in BREAKDOWNS.items():
        groups: dict[str, list[str]] = {}
        for shot, outcome in outcomes:
            groups.setdefault(value_of(shot), []).append(outcome)
        for value, results in sorted(groups.items()):
            report.add(
                by=name,
                value=value,
                screenshots=len(results),
                correct=results.count("correct"),
                accuracy=round(results.count("correct") / len(results), 3),
                wrong_accepted=results.count("wrong"),
            )

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    if args.wild:
        wild_accuracy, wild_wrong, wild_cpu = ocr_wild.measure(
            report,
            count=args.wild,
            seed=args.wild_seed,
            keep=args.keep,
            verbose=args.verbose,
            cpu_time=cpu_time,
        )
        report.notes.append(
            f"wild target: >= {TARGET_ACCURACY:.0%} read right "
            f"({verdict(wild_accuracy >= TARGET_ACCURACY)}), 0 wrong keys "
            f"({verdict(wild_wrong == 0)}), < {TARGET_SECONDS:g} s CPU each "
            f"({verdict(wild_cpu < TARGET_SECONDS)})"
        )

    slowest = seconds[-1] if seconds else 0.0
    slowest_cpu = cpu_seconds[-1] if cpu_seconds else 0.0
    report.notes.append(
        f"target: >= {TARGET_ACCURACY:.0%} correct ({verdict(accuracy >= TARGET_ACCURACY)}), "
        f"0 wrong accepted ({verdict(wrong + invalid_accepted == 0)}), "
        f"< {TARGET_SECONDS:g} s each ({verdict(slowest < TARGET_SECONDS)} in wall time, "
        f"{verdict(slowest_cpu < TARGET_SECONDS)} in CPU time)"
    )
    report.notes.append(
        f"corpus seed {args.seed}: themes {', '.join(sorted(ALL_THEMES))}; scales 1.0-2.0; "
        "PNG, JPEG and WebP at quality 40-95; en, it; key fonts "
        f"{', '.join(font_name(font) for font in key_fonts)}; label fonts "
        f"{', '.join(font_name(font) for font in label_fonts)}"
    )
    used = label_fonts + key_fonts
    absent = [font_name(font) for font in LABEL_FONTS + KEY_FONTS if font not in used]
    if absent:
        report.notes.append(
            f"NOT INSTALLED, left out of the corpus: {', '.join(absent)} "
            f"(Debian: {DEBIAN_FONT_PACKAGES})"
        )
    report.print()
    report.write(args.json)


if __name__ == "__main__":
    main()
