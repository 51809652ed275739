"""The license key read from a screenshot of the License details window, by Tesseract.

A customer who lost a printed card attaches such a screenshot to a support request; the
desk shows the key read from it. A reading is trusted only when the key's check value
holds (three Reed-Solomon bytes, ``docs/formats.md``): a misread key passes with
probability 2^-24 per candidate tried, so few candidates are ever tried (at most
MAX_CHECKS an image) and no check value is ever "corrected" into another key.

The image goes through a few passes, cheapest first, each stopping the search when a
candidate's check value holds:

1. the whole window, in grey, dark themes inverted, small text enlarged;
2. the line that looked most like a key, cut out and enlarged, read as one line: in grey
   as a raw line (``--psm 13``) and as a text line (``--psm 7``), then told to expect
   hexadecimal digits only (Tesseract's whitelist), in grey and binarised at two sizes.
   After each pass the groups of four digits read so far are also combined across passes
   (a group misread in one pass is often read right in another), each combination still
   checked by the check value. A key that changes a digit which a plain reading (no
   whitelist) read as itself, where no plain reading agrees with it, is refused
   (``_contradicted``). Nothing read is ever mended (a digit swapped, a character taken
   out of a group of five): a picture of a key one digit off would then pass as the key
   it is one digit from, which is what bench/ocr.py's pictures of invalid keys test.

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
