"""Collect every page string into the translation catalogs, or check they are translated.

    .venv/bin/python scripts/extract_messages.py          # update locale/*/messages.po
    .venv/bin/python scripts/extract_messages.py --check  # exit 1 listing untranslated ids

A page string is:
- in any template under ``src/licensor/**/templates/``: ``_("...")``, ``gettext("...")``,
  ``ngettext("...", "...", n)`` (Jinja2's own extractor);
- in ``src/licensor/**/*.py``: a call of a function or method named ``_``, ``gettext``,
  ``ngettext`` or ``N_`` (the no-op marker, for strings translated where they are shown)
  whose message is a string literal; ``unit._(MESSAGES[key])`` is found through the
  ``N_`` around each value of ``MESSAGES``;
- the ``title`` of an error class (one that sets both ``code`` and ``title``): pages
  show it, translated, when a route raises the error.

Updating keeps every translation, adds new ids with an empty translation, suggests a
translation for an id close to a vanished one (marked fuzzy, which pages ignore until a
translator removes the mark), and keeps vanished ids at the end as obsolete (``#~``).
A ``# Translators:`` comment on or above the line reaches the catalog as a note.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po
from jinja2.ext import babel_extract

from licensor import __version__
from licensor.web import i18n

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "licensor"
TEMPLATE_KEYWORDS = ("_", "gettext", "ngettext")
PYTHON_KEYWORDS = {"_": 1, "gettext": 1, "N_": 1, "ngettext": 2}  # name: string arguments
COMMENT_TAG = "Translators:"
HEADER = """\
# {language} translations of Licensor's pages.
# Update with `.venv/bin/python scripts/extract_messages.py` (see CONTRIBUTING.md).
#"""
DATE_LINE = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"$', re.MULTILINE)

MessageId = str | tuple[str, str]


@dataclass(frozen=True)
class Found:
    """One occurrence of a page string."""

    message: MessageId
    path: str
    line: int
    comments: tuple[str, ...] = ()


class ExtractionError(Exception):
    """A call that can never be translated, such as ``_(f"...")``."""


def template_files(source: Path = SOURCE) -> list[Path]:
    return sorted(
        {
            path
            for directory in source.glob("**/templates")
            for path in directory.rglob("*")
            if path.is_file()
        }
    )


def python_files(source: Path = SOURCE) -> list[Path]:
    return sorted(path for path in source.rglob("*.py") if "templates" not in path.parts)


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()


def from_template(path: Path) -> Iterator[Found]:
    options = {"newstyle_gettext": "true", "silent": "false"}
    with path.open("rb") as handle:
        for line, function, message, comments in babel_extract(
            handle, TEMPLATE_KEYWORDS, [COMMENT_TAG], options
        ):
            count = 2 if function == "ngettext" else 1
            strings = [message] if isinstance(message, str | None) else list(message)
            strings = strings[:count]
            if len(strings) != count or not all(strings):
                continue  # _(variable): the string is marked where it is written
            message_id: MessageId = (
                str(strings[0]) if count == 1 else (str(strings[0]), str(strings[1]))
            )
            yield Found(message_id, _relative(path), line, tuple(comments))


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _comments(lines: Sequence[str], line: int) -> tuple[str, ...]:
    """A ``# Translators:`` comment on the call's line or the line above it."""
    for text in (lines[line - 1], lines[line - 2] if line > 1 else ""):
        if "#" in text and COMMENT_TAG in text.split("#", 1)[1]:
            return (text.split(COMMENT_TAG, 1)[1].strip(),)
    return ()


def _is_error_class(node: ast.ClassDef) -> bool:
    names = {
        target.id
        for statement in node.body
        for target in (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        if isinstance(target, ast.Name)
    }
    return {"code", "title"} <= names


def from_python(path: Path) -> Iterator[Found]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    where = _relative(path)
    nodes = sorted(
        (
            node
            for node in ast.walk(ast.parse(source, filename=str(path)))
            if isinstance(node, ast.Call | ast.ClassDef)
        ),
        key=lambda node: (node.lineno, node.col_offset),
    )
    for node in nodes:
        if isinstance(node, ast.Call) and (name := _called_name(node)) in PYTHON_KEYWORDS:
            count = PYTHON_KEYWORDS[name]
            arguments = node.args[:count]
            if any(isinstance(argument, ast.JoinedStr) for argument in arguments):
                raise ExtractionError(
                    f"{where}:{node.lineno}: {name}() of an f-string cannot be translated; "
                    'use {name}("... {placeholder} ...").format(placeholder=...)'
                )
            strings = [
                argument.value
                for argument in arguments
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            ]
            if len(strings) != count or not all(strings):
                continue  # _(variable): the string is marked where it is written
            message: MessageId = strings[0] if count == 1 else (strings[0], strings[1])
            yield Found(message, where, node.lineno, _comments(lines, node.lineno))
        elif isinstance(node, ast.ClassDef) and _is_error_class(node):
            for statement in node.body:
                target = (
                    statement.targets[0]
                    if isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    else statement.target
                    if isinstance(statement, ast.AnnAssign)
                    else None
                )
                value = getattr(statement, "value", None)
                if (
                    isinstance(target, ast.Name)
                    and target.id == "title"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and value.value
                ):
                    comments = (f"Title of the error page for {node.name}.",)
                    yield Found(value.value, where, statement.lineno, comments)


def extract(source: Path = SOURCE) -> Catalog:
    """Every page string, as a catalog without translations (a template)."""
    template = Catalog(project="Licensor", version=__version__, fuzzy=False)
    found = [item for path in template_files(source) for item in from_template(path)]
    found += [item for path in python_files(source) for item in from_python(path)]
    for item in found:
        template.add(item.message, locations=[(item.path, item.line)], auto_comments=item.comments)
    return template


def catalog_path(language: str) -> Path:
    return i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str) -> Catalog:
    path = catalog_path(language)
    if not path.exists():
        name = Locale.parse(language).english_name or language
        return Catalog(
            locale=language,
            header_comment=HEADER.format(language=name),
            project="Licensor",
            version=__version__,
            language_team=name,
            last_translator="Licensor team",
            fuzzy=False,
        )
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def merge(catalog: Catalog, template: Catalog) -> None:
    """Bring ``catalog`` up to ``template``'s ids, keeping every translation."""
    # An id that comes back gets its old translation back.
    for key, message in list(catalog.obsolete.items()):
        if key not in catalog:
            catalog[message.id] = message
    catalog.obsolete.clear()
    before = {message.id: message for message in catalog if message.id}
    catalog.update(template, update_creation_date=False)
    # Babel drops an id it used to suggest a fuzzy translation; keep it, so it can return.
    for message_id, message in before.items():
        if message_id not in catalog and message.string and not message.fuzzy:
            key = message_id if isinstance(message_id, str) else message_id[0]
            catalog.obsolete[key] = message


def render(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, include_lineno=False, include_previous=True, width=88)
    return buffer.getvalue()


def save(language: str, catalog: Catalog, now: datetime | None = None) -> bool:
    """Write the catalog if anything but its dates changed; say whether it was written."""
    path = catalog_path(language)
    old = path.read_bytes() if path.exists() else b""
    if DATE_LINE.sub(b"", render(catalog)) == DATE_LINE.sub(b"", old):
        return False
    catalog.creation_date = catalog.revision_date = now or datetime.now(UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(catalog))
    return True


def _is_translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, list | tuple) else [message.string]
    return bool(strings) and all(strings)


def untranslated(catalog: Catalog, template: Catalog) -> list[Message]:
    """The template's messages that ``catalog`` lacks, leaves empty, or marks fuzzy."""
    return [
        message
        for message in template
        if message.id and not _is_translated(catalog.get(message.id))
    ]


def translated_languages() -> list[str]:
    return [language for language in i18n.LANGUAGES if language != i18n.DEFAULT]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 listing the ids that have no translation",
    )
    arguments = parser.parse_args(argv)
    try:
        template = extract()
    except ExtractionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    status = 0
    for language in translated_languages():
        catalog = read_catalog(language)
        if arguments.check:
            missing = untranslated(catalog, template)
            if missing:
                status = 1
                print(f"{language}: {len(missing)} of {len(template)} ids have no translation:")
                for message in missing:
                    where = ", ".join(path for path, _line in message.locations)
                    print(f"  {message.id!r}  ({where})")
            else:
                print(f"{language}: all {len(template)} ids are translated")
            continue
        merge(catalog, template)
        written = save(language, catalog)
        missing = untranslated(catalog, template)
        print(
            f"{_relative(catalog_path(language))}: {len(template)} ids, "
            f"{len(missing)} untranslated, {len(catalog.obsolete)} obsolete"
            + ("" if written else " (unchanged)")
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
