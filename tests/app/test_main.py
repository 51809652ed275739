"""``licensor-app``'s options and where they come from when not given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from licensor_app.__main__ import build_parser
from licensor_app.app import default_screenshot_dir


def test_help_lists_the_options() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "licensor_app", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    for option in ("--server", "--public-keys", "--state-dir", "--language", "--screenshot-dir"):
        assert option in ran.stdout


def test_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LICENSOR_SERVER", "LICENSOR_PUBLIC_KEYS", "LICENSOR_APP_LANGUAGE", "LC_ALL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    defaults = build_parser().parse_args([])
    assert defaults.server == "http://127.0.0.1:8000"
    assert defaults.public_keys is None
    assert defaults.language == "en"

    monkeypatch.setenv("LANG", "it_IT.UTF-8")
    assert build_parser().parse_args([]).language == "it"

    monkeypatch.setenv("LICENSOR_SERVER", "https://licensing.example.com")
    monkeypatch.setenv("LICENSOR_PUBLIC_KEYS", "k1:AAAA")
    monkeypatch.setenv("LICENSOR_APP_LANGUAGE", "en")
    chosen = build_parser().parse_args([])
    assert chosen.server == "https://licensing.example.com"
    assert chosen.public_keys == "k1:AAAA"
    assert chosen.language == "en"

    given = build_parser().parse_args(["--server", "http://other", "--language", "it"])
    assert (given.server, given.language) == ("http://other", "it")


def test_screenshots_go_to_pictures_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_screenshot_dir() == tmp_path
    (tmp_path / "Pictures").mkdir()
    assert default_screenshot_dir() == tmp_path / "Pictures"
    (tmp_path / "Immagini").mkdir()
    (tmp_path / ".config").mkdir()
    (tmp_path / ".config" / "user-dirs.dirs").write_text('XDG_PICTURES_DIR="$HOME/Immagini"\n')
    assert default_screenshot_dir() == tmp_path / "Immagini"
