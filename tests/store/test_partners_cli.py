"""``licensor partners edit|show``, run as the vendor runs them: an edit changes only the
details given and is audited; show lists the contact details, allocations and keys."""

from __future__ import annotations

from pathlib import Path

from licensor.config import Settings
from licensor.db import Database
from tests.cli_support import licensor, one_line
from tests.store.factories import MakeSeller
from tests.support import audit_events


def test_an_edit_changes_only_the_details_given_and_show_lists_allocations_and_keys(
    tmp_path: Path, settings: Settings, database: Database, make_seller: MakeSeller
) -> None:
    seller = make_seller(count=3)

    status, out, err = licensor(
        tmp_path, settings, "partners", "edit", seller.slug, "--phone", "+39 02 555 0101"
    )
    assert status == 0, err
    assert one_line(out) == f"partner {seller.slug}: phone changed"
    bad, _, err = licensor(tmp_path, settings, "partners", "edit", seller.slug, "--url", "nope")
    assert bad == 1
    assert "--url" in err

    status, out, err = licensor(tmp_path, settings, "partners", "show", seller.slug)
    assert status == 0, err
    assert "phone: +39 02 555 0101" in out
    assert f"email: help@{seller.slug}.example" in out
    assert seller.key.removeprefix("lp_").split("_")[0] in out
    [edited] = audit_events(database, "store.partner_updated")
    assert edited.details["fields"] == ["phone"]

    # Details are typed by people: printed as they are, never read as rich markup.
    name = "Rivendita [/b] [bold]Milano"
    status, _, err = licensor(tmp_path, settings, "partners", "edit", seller.slug, "--name", name)
    assert status == 0, err
    for command in (("show", seller.slug), ("list",)):
        status, out, err = licensor(tmp_path, settings, "partners", *command)
        assert status == 0, err
        assert "[/b]" in out
