"""The app in Italian: the window and button names of the Italian help articles, and
refusals in Italian."""

from __future__ import annotations

import pytest

from tests.app.conftest import MakeMachine
from tests.app.screens import SIZE, activate, click, label, message, open_licensing, window
from tests.licensing.factories import MakeCode

pytestmark = pytest.mark.anyio


async def test_the_windows_speak_italian(machine: MakeMachine, make_code: MakeCode) -> None:
    async with machine(language="it").run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert label(pilot, "#license") == "Licenza"
        await open_licensing(pilot)
        assert window(pilot) == "Gestione della licenza"
        assert label(pilot, "#enter-code") == "Inserisci il codice di attivazione"
        assert label(pilot, "#restore-license") == "Ripristina la licenza"
        assert label(pilot, "#connect") == "Collegati al tuo account"

        said = await activate(pilot, make_code())
        assert said == "La licenza è attiva su questo dispositivo."
        assert label(pilot, "#show-details") == "Mostra dettagli"
        assert label(pilot, "#recover") == "Recupera i miei codici di attivazione"
        assert label(pilot, "#remove-license") == "Rimuovi la licenza da questo dispositivo"
        assert label(pilot, "#save-backup") == "Salva un backup della licenza"

        await click(pilot, "#show-details")
        assert window(pilot) == "Dettagli licenza"
        assert label(pilot, "#copy") == "Copia"
        assert label(pilot, "#save-screenshot") == "Salva screenshot"
        await click(pilot, "#save-screenshot")
        assert message(pilot).endswith("Puoi allegarlo a una richiesta al supporto.")
        await click(pilot, "#close")

        await click(pilot, "#recover")
        assert window(pilot) == "Collegati al tuo account"
        assert label(pilot, "#sign-in") == "Accedi"
        await click(pilot, "#close")

        await click(pilot, "#remove-license")
        assert window(pilot) == "Rimuovi la licenza da questo dispositivo"


async def test_refusals_in_italian(machine: MakeMachine, make_code: MakeCode) -> None:
    code = make_code()
    mistyped = code[:-1] + ("X" if code[-1] != "X" else "Y")
    async with machine(language="it").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, mistyped)
    assert said.startswith("Il codice di attivazione contiene un errore di battitura.")
