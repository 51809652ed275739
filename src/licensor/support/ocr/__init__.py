"""The license key read from a picture a customer sends, by Tesseract (docs/ocr.md).

A customer who lost a printed card attaches a screenshot of the License details window,
of the order's e-mail, or a phone photo of a screen to a support request; the
desk shows the key read from it. A reading is trusted only when the key's check value
holds (three Reed-Solomon bytes, ``docs/formats.md``): a misread key passes with
probability 2^-24 per candidate tried, so few candidates are ever tried (at most
MAX_CHECKS an image) and no check value is ever "corrected" into another key.

The image goes through a few passes, cheapest first, each stopping the search when a
candidate's check value holds:

1. the whole picture, in grey, dark themes inverted, turned level when photographed
   askew (``image.deskewed``), small text enlarged; each line gives candidates, and so
   does each pair of lines that ends and begins with hex digits (a key wrapped over two
   lines: 16 digits each, or split between two groups);
2. when nothing passed, the whole picture again, its paper made evenly white (a photo of
   a screen is lit unevenly) and enlarged 1.4 times;
3. the two lines (or pairs of lines) that looked most like a key (closest to 32 digits:
   a SHA-1 or SHA-256 is longer), each cut out and enlarged, read as one line: in grey
   as a raw line (``--psm 13``) and as a text line (``--psm 7``), then told to expect
   hexadecimal digits only (Tesseract's whitelist, lower case too), in grey and binarised
   at two sizes. After each pass the groups of four digits read so far are also combined
   across passes (a group misread in one pass is often read right in another), each
   combination still checked by the check value. A key that changes a digit which a
   plain reading (no whitelist) read as itself, where no plain reading agrees with it,
   is refused (``candidates.contradicted``).

When two different keys pass the check in one pass (a picture of two licenses, or a hash
that passed by chance), no key is read: which one is meant is the agent's call. Nothing
read is ever mended (a digit swapped, a character taken out of a group of five, a letter
that looks like two digits tried as both): a picture of a key one digit off would then
pass as the key it is one digit from, which is what bench/ocr.py's pictures of invalid
keys test.

Tesseract (Debian: ``tesseract-ocr`` and ``tesseract-ocr-eng``) runs as a child process,
one thread, under a time limit; Pillow decodes and prepares the image.
"""

from licensor.errors import OcrUnavailable, ScreenshotUnreadable
from licensor.support.ocr.candidates import MAX_CHECKS
from licensor.support.ocr.reader import KeyReading, read_license_key
from licensor.support.ocr.tesseract import DEBIAN_PACKAGES

__all__ = [
    "DEBIAN_PACKAGES",
    "MAX_CHECKS",
    "KeyReading",
    "OcrUnavailable",
    "ScreenshotUnreadable",
    "read_license_key",
]
