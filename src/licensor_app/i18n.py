"""English and Italian for the app's windows and its screenshots.

The English text is the message id; ``ITALIAN`` maps it to the Italian ("tu" form, and
the customer's words: "codice di attivazione", "chiave di licenza", "Licenze",
"Il mio account"). Values stay out of the sentence: ``_("Saved to {path}", path=...)``;
a translation keeps every ``{placeholder}``. ``tests/app/test_i18n.py`` checks that each
string the app passes to ``_()`` or marks with ``N_()`` has its Italian here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

LANGUAGES = ("en", "it")
DEFAULT_LANGUAGE = "en"

MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "it": (
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ),
}


def N_(text: str) -> str:
    """Mark a string translated where it is shown rather than where it is written."""
    return text


ITALIAN: dict[str, str] = {
    # Window and button names (fixed by the help articles)
    "License": "Licenza",
    "Licensing": "Gestione della licenza",
    "Enter activation code": "Inserisci il codice di attivazione",
    # Reserve codes (docs/reserve-codes.md)
    "Add as reserve code": "Aggiungi come codice di riserva",
    "This device has an active license. A second code of the same plan can wait in reserve: "
    "the license then runs longer, from the day its current term ends.": "Su questo "
    "dispositivo c'è una licenza attiva. Un secondo codice dello stesso piano può restare di "
    "riserva: la licenza dura allora più a lungo, dal giorno in cui finisce il periodo attuale.",
    "Reserve code": "Codice di riserva",
    "starts on {date}": "parte il {date}",
    "The reserve code was added.": "Il codice di riserva è stato aggiunto.",
    "Show details": "Mostra dettagli",
    "License details": "Dettagli licenza",
    "Recover my activation codes": "Recupera i miei codici di attivazione",
    "Remove license from this device": "Rimuovi la licenza da questo dispositivo",
    "Save license backup": "Salva un backup della licenza",
    "Restore license": "Ripristina la licenza",
    "Connect to My Account": "Collegati al tuo account",
    # Family sharing (windows/shared.py)
    "Use a license shared with me": "Usa una licenza condivisa con te",
    "If someone shared their license with you and you accepted in My Account, sign in with "
    "your My Account email address and password to use it on this device.": "Se qualcuno ha "
    "condiviso con te la sua licenza e hai accettato nel tuo account, accedi con l'indirizzo "
    "email e la password del tuo account per usarla su questo dispositivo.",
    "Find shared licenses": "Trova le licenze condivise",
    "No license is shared with this account.": "Nessuna licenza è condivisa con questo account.",
    "Use {plan} ({public_id}), shared by {owner}": "Usa {plan} ({public_id}), condivisa da {owner}",
    "Save screenshot": "Salva screenshot",
    "Sign in": "Accedi",
    "Copy": "Copia",
    # Main window
    "Checking the license…": "Verifica della licenza in corso…",
    "Activating your subscription…": "Attivazione del tuo abbonamento in corso…",
    "This download was already used to activate, or it has expired. Download the app again "
    "from My Account → Subscriptions.": (
        "Questo download è già stato usato per attivare, oppure è scaduto. Scarica di nuovo "
        "l'applicazione dalla sezione Il mio account → Abbonamenti."
    ),
    "Activated with your subscription: no code needed.": (
        "Attivata con il tuo abbonamento: nessun codice necessario."
    ),
    "{plan}: active until {date}": "{plan}: attiva fino al {date}",
    "{plan}: active": "{plan}: attiva",
    "{plan}: {status}": "{plan}: {status}",
    # Main window: the features the plan includes
    "Antivirus": "Antivirus",
    "VPN": "VPN",
    "Password manager": "Gestore delle password",
    "The features open with an active license.": (
        "Le funzioni si sbloccano con una licenza attiva."
    ),
    "Your plan does not include: {features}": "Il tuo piano non comprende: {features}",
    "{feature}: included in your plan.": "{feature}: fa parte del tuo piano.",
    # Licensing window
    "Plan": "Piano",
    "Status": "Stato",
    "Expires": "Scadenza",
    "Devices": "Dispositivi",
    "{used} of {allowed}": "{used} di {allowed}",
    "up to {allowed}": "fino a {allowed}",
    "No expiry date": "Nessuna scadenza",
    "Active": "Attiva",
    "Expired": "Scaduta",
    "Blocked": "Bloccata",
    "Removed from this device": "Rimossa da questo dispositivo",
    "Not activated on this device": "Non attivata su questo dispositivo",
    "Unknown to the license server": "Sconosciuta al server delle licenze",
    "Checked with the license server just now.": (
        "Verificata proprio ora con il server delle licenze."
    ),
    "The license server cannot be reached: checked from the license file.": (
        "Il server delle licenze non è raggiungibile: verificata dal file di licenza."
    ),
    "The license server cannot be reached: shown as last checked.": (
        "Il server delle licenze non è raggiungibile: mostrata come all'ultima verifica."
    ),
    "There is no license on this device.": "Su questo dispositivo non c'è una licenza.",
    "There is no license on this device. Enter the activation code from your purchase, "
    "restore a license backup, or connect this device to My Account.": (
        "Su questo dispositivo non c'è una licenza. Inserisci il codice di attivazione del "
        "tuo acquisto, ripristina un backup della licenza oppure collega questo dispositivo "
        "al tuo account."
    ),
    "Close": "Chiudi",
    # A floating license's seat (licensor_app/floating.py)
    "Floating license: seat held until {time}": (
        "Licenza a postazioni condivise: il tuo posto è riservato fino alle {time}"
    ),
    "All {count} seats are in use; try again after {time}": (
        "Tutti i {count} posti sono in uso; riprova dopo le {time}"
    ),
    "Your seat of the floating license was freed. Open the app again to get one.": (
        "Il tuo posto della licenza a postazioni condivise è stato liberato. Riapri l'app "
        "per averne uno."
    ),
    "No seat held now": "Nessun posto riservato ora",
    "Every seat of this license is in use on other computers right now. Try again "
    "after {time}, or when someone closes the app.": (
        "Tutti i posti di questa licenza sono in uso su altri computer in questo momento. "
        "Riprova dopo le {time}, o quando qualcuno chiude l'app."
    ),
    "This app holds no seat of the floating license now: every seat is in use, or its "
    "seat lapsed or was freed. Open the app again when a seat is free.": (
        "Questa app non ha un posto della licenza a postazioni condivise in questo momento: "
        "tutti i posti sono in uso, oppure il suo posto è scaduto o è stato liberato. Riapri "
        "l'app quando un posto è libero."
    ),
    "Cancel": "Annulla",
    "The license is active on this device.": "La licenza è attiva su questo dispositivo.",
    "The license was removed from this device. It is now on {used} of {allowed} devices, "
    "so you can activate it on another one.": (
        "La licenza è stata rimossa da questo dispositivo. Ora è in uso su {used} dispositivi "
        "su {allowed}, quindi puoi attivarla su un altro."
    ),
    "License backup saved to {path}. Keep a copy outside this computer, for example on a "
    "USB drive.": (
        "Backup della licenza salvato in {path}. Conservane una copia fuori da questo "
        "computer, per esempio su una chiavetta USB."
    ),
    "The license was restored on this device.": (
        "La licenza è stata ripristinata su questo dispositivo."
    ),
    # Remove license
    "Remove the license from this device? The app here stops being licensed, and the "
    "license's place becomes free, so you can activate it on another device with the same "
    "activation code.": (
        "Vuoi rimuovere la licenza da questo dispositivo? Qui l'app non sarà più coperta "
        "dalla licenza e il suo posto si libera, così puoi attivarla su un altro dispositivo "
        "con lo stesso codice di attivazione."
    ),
    "Remove license": "Rimuovi la licenza",
    # Enter activation code
    "The activation code is in your purchase confirmation email, on the card you bought, or "
    "in the Licenses section of My Account.": (
        "Il codice di attivazione si trova nell'email di conferma dell'acquisto, sulla "
        "scheda che hai acquistato oppure nella sezione Licenze del tuo account."
    ),
    "Activate": "Attiva",
    "Enter the activation code from your purchase.": (
        "Inserisci il codice di attivazione del tuo acquisto."
    ),
    # Enter activation code: the license is on all its devices
    "The license is in use on these devices:": "La licenza è in uso su questi dispositivi:",
    "• {device}: last seen {date}": "• {device}: visto l'ultima volta il {date}",
    "Unnamed device": "Dispositivo senza nome",
    "To use it here, free a seat: remove the license in the app on a device you no longer "
    "use, or sign in to My Account and remove a device there: {address}": (
        "Per usarla qui, libera un posto: rimuovi la licenza dall'app su un dispositivo che "
        "non usi più, oppure accedi al tuo account e rimuovi lì un dispositivo: {address}"
    ),
    "the Devices section of My Account": "la sezione Dispositivi del tuo account",
    "If the license is not in your account yet, add its activation code in the Licenses "
    "section first.": (
        "Se la licenza non è ancora nel tuo account, prima aggiungi il suo codice di "
        "attivazione nella sezione Licenze."
    ),
    "Email me a link to free a seat": "Inviami un link per liberare un posto",
    "If this license has an owner on record, we have emailed them a link that frees a seat. "
    "Open it, choose the device to free, then activate here again.": (
        "Se questa licenza ha un proprietario registrato, gli abbiamo inviato via email un "
        "link che libera un posto. Aprilo, scegli il dispositivo da liberare, poi attiva di "
        "nuovo qui."
    ),
    # License details
    "License key": "Chiave di licenza",
    "Public ID": "ID pubblico",
    "Support may ask for the license key: send a screenshot of this window with your "
    "request. The public ID is safe to say on the phone.": (
        "Il supporto può chiederti la chiave di licenza: allega alla richiesta uno screenshot "
        "di questa finestra. L'ID pubblico puoi comunicarlo anche al telefono."
    ),
    "The license key was copied to the clipboard.": (
        "La chiave di licenza è stata copiata negli appunti."
    ),
    "Screenshot saved to {path}. You can attach it to a support request.": (
        "Screenshot salvato in {path}. Puoi allegarlo a una richiesta al supporto."
    ),
    "Export proof…": "Esporta prova…",
    "QR code": "Codice QR",
    "License proof saved to {path}. Attach it to a support request: it is signed by this "
    "device, so support can check it at once.": (
        "Prova di licenza salvata in {path}. Allegala a una richiesta al supporto: è "
        "firmata da questo dispositivo, così il supporto può verificarla subito."
    ),
    "Support can scan this QR code: it is your license proof.": (
        "Il supporto può leggere questo codice QR: è la tua prova di licenza."
    ),
    # Connect to My Account
    "Sign in with your My Account email address and password: the app sends its license to "
    "your account, and the license's activation code then appears in the Licenses section "
    "of My Account. No account yet? Create one at {url} with the email address you used "
    "when you bought the license.": (
        "Accedi con l'indirizzo email e la password del tuo account: l'app invia la sua "
        "licenza al tuo account e il codice di attivazione della licenza compare poi nella "
        "sezione Licenze del tuo account. Non hai ancora un account? Creane uno su {url} "
        "con l'indirizzo email che hai usato per acquistare la licenza."
    ),
    "Email": "Email",
    "Password": "Password",
    "Connect with a code instead": "Collegati invece con un codice",
    "Enter your email address and password.": "Inserisci il tuo indirizzo email e la password.",
    "Your license was sent to your account. Its activation code is now in the Licenses "
    "section of My Account: {url}": (
        "La tua licenza è stata inviata al tuo account. Il suo codice di attivazione ora si "
        "trova nella sezione Licenze del tuo account: {url}"
    ),
    "This license was already in your account. Its activation code is in the Licenses "
    "section of My Account: {url}": (
        "Questa licenza era già nel tuo account. Il suo codice di attivazione si trova nella "
        "sezione Licenze del tuo account: {url}"
    ),
    "On any phone or computer, sign in to My Account at the address below and enter this code:": (
        "Da un telefono o un computer qualsiasi, accedi al tuo account all'indirizzo qui "
        "sotto e inserisci questo codice:"
    ),
    "Waiting for the code to be entered…": "In attesa che il codice venga inserito…",
    "I have entered the code": "Ho inserito il codice",
    "Get a new code": "Ottieni un nuovo codice",
    "The code has expired. Choose Get a new code.": (
        "Il codice è scaduto. Scegli Ottieni un nuovo codice."
    ),
    "This device is now connected to your account {account}.": (
        "Questo dispositivo ora è collegato al tuo account {account}."
    ),
    "Its license was sent there too: the activation code is in the Licenses section of My "
    "Account.": (
        "Anche la sua licenza è stata inviata lì: il codice di attivazione si trova nella "
        "sezione Licenze del tuo account."
    ),
    # Backups
    "Save the license before you reinstall the operating system, and restore it afterwards.": (
        "Salva la licenza prima di reinstallare il sistema operativo, e ripristinala dopo."
    ),
    "Save to": "Salva in",
    "Passphrase (optional)": "Passphrase (facoltativa)",
    "Without a passphrase the backup can be restored on this computer only, also after its "
    "system is reinstalled: the license comes back without using another device. With a "
    "passphrase it can also be restored on another computer, which then counts as one of "
    "the license's devices.": (
        "Senza passphrase il backup può essere ripristinato solo su questo computer, anche "
        "dopo aver reinstallato il sistema: la licenza torna senza occupare un altro "
        "dispositivo. Con una passphrase puoi ripristinarlo anche su un altro computer, che "
        "conta come uno dei dispositivi della licenza."
    ),
    "This computer's identity changes when its system is reinstalled, so a backup without a "
    "passphrase cannot be restored after a reinstall. Choose a passphrase to keep the "
    "license across a reinstall: restoring then counts this computer as one of the "
    "license's devices, as another computer would. Keep the passphrase safe.": (
        "L'identità di questo computer cambia quando reinstalli il sistema, quindi un backup "
        "senza passphrase non si può ripristinare dopo la reinstallazione. Scegli una "
        "passphrase per conservare la licenza: al ripristino questo computer conta come uno "
        "dei dispositivi della licenza, come farebbe un altro computer. Conserva la "
        "passphrase con cura."
    ),
    "License backup saved to {path}. It can be restored on this computer until its system is "
    "reinstalled; before a reinstall, save it again with a passphrase.": (
        "Backup della licenza salvato in {path}. Si può ripristinare su questo computer "
        "finché non reinstalli il sistema; prima di una reinstallazione, salvalo di nuovo con "
        "una passphrase."
    ),
    "Save": "Salva",
    "Choose where to save the backup.": "Scegli dove salvare il backup.",
    "Restore a license backup saved with Save license backup. On the computer that saved it "
    "no passphrase is needed; on another computer, enter the passphrase chosen when it was "
    "saved.": (
        "Ripristina un backup salvato con Salva un backup della licenza. Sul computer che lo "
        "ha salvato non serve una passphrase; su un altro computer, inserisci la passphrase "
        "scelta al momento del salvataggio."
    ),
    "Backup file": "File di backup",
    "Passphrase (if one was chosen)": "Passphrase (se ne hai scelta una)",
    "Restore": "Ripristina",
    "Choose the backup file to restore.": "Scegli il file di backup da ripristinare.",
    # Licensing window: why a license is not valid (issue 16, item 10)
    "This license is in use on all the devices it allows: remove it from a device you no "
    "longer use, then activate it here.": (
        "Questa licenza è in uso su tutti i dispositivi consentiti: rimuovila da un "
        "dispositivo che non usi più, poi attivala qui."
    ),
    "The license's term is over: renew it, or buy a new one in the store.": (
        "Il periodo della licenza è finito: rinnovala oppure acquistane una nuova nel negozio."
    ),
    "The license was blocked (for example after a refund): contact customer support.": (
        "La licenza è stata bloccata (per esempio dopo un rimborso): contatta il servizio clienti."
    ),
    "The license was removed from this device (here, on another device or in My Account): "
    "enter your activation code to use it here again.": (
        "La licenza è stata rimossa da questo dispositivo (qui, da un altro dispositivo o "
        "nella sezione Il mio account): inserisci il tuo codice di attivazione per usarla di "
        "nuovo qui."
    ),
    "The license was never activated on this device: enter your activation code.": (
        "La licenza non è mai stata attivata su questo dispositivo: inserisci il tuo codice "
        "di attivazione."
    ),
    "The license server does not know this license: contact customer support.": (
        "Il server delle licenze non conosce questa licenza: contatta il servizio clienti."
    ),
    "This license has moved to new devices as often as its plan allows for now. It can move "
    "to this device from {date}; the device that had it can take it back at once, and "
    "customer support can allow one more move.": (
        "Questa licenza è passata a nuovi dispositivi tutte le volte che il suo piano "
        "consente per ora. Potrà passare a questo dispositivo dal {date}; il dispositivo che "
        "la aveva può riprenderla subito e il servizio clienti può concedere un passaggio in "
        "più."
    ),
    # Refusals
    "Cannot reach the license server. Check your internet connection and try again.": (
        "Impossibile raggiungere il server delle licenze. Controlla la connessione a "
        "Internet e riprova."
    ),
    "This activation code is mistyped. Check each character against your purchase email or "
    "card, and try again.": (
        "Il codice di attivazione contiene un errore di battitura. Confronta ogni carattere "
        "con l'email di acquisto o con la scheda e riprova."
    ),
    "This activation code is not known to us. Check that it is the code from your purchase, "
    "or contact the store where you bought it.": (
        "Questo codice di attivazione non ci risulta. Controlla che sia il codice del tuo "
        "acquisto oppure contatta il negozio presso cui l'hai acquistato."
    ),
    "This activation code is blocked and cannot be used. Contact customer support.": (
        "Questo codice di attivazione è bloccato e non può essere usato. Contatta il "
        "servizio clienti."
    ),
    "This activation code has not been registered as sold yet, so it cannot be activated. "
    "Ask the shop where you bought it to register the sale, then try again.": (
        "Questo codice di attivazione non risulta ancora venduto, quindi non può essere "
        "attivato. Chiedi al negozio dove l'hai comprato di registrare la vendita, poi "
        "riprova."
    ),
    "This license is already in use on all the devices it allows. Remove it from another "
    "device (in the app on that device, or in My Account → Devices), then try again.": (
        "Questa licenza è già in uso su tutti i dispositivi consentiti. Rimuovila da un altro "
        "dispositivo (nell'app su quel dispositivo oppure nella sezione Il mio account → "
        "Dispositivi), poi riprova."
    ),
    "This license has expired. Renew it, or buy a new one in the store.": (
        "Questa licenza è scaduta. Rinnovala oppure acquistane una nuova nel negozio."
    ),
    "Wrong email or password.": "Email o password errate.",
    "Your email address is not confirmed yet. We sent you a message with a confirmation "
    "link: open it, then sign in again.": (
        "Il tuo indirizzo email non è ancora confermato. Ti abbiamo inviato un messaggio con "
        "un link di conferma: aprilo, poi accedi di nuovo."
    ),
    "This license is linked to another account. If it is yours, contact customer support.": (
        "Questa licenza è collegata a un altro account. Se è tua, contatta il servizio clienti."
    ),
    "Too many attempts. Try again in {seconds} seconds.": (
        "Troppi tentativi. Riprova tra {seconds} secondi."
    ),
    "Too many attempts. Try again in a few minutes.": (
        "Troppi tentativi. Riprova tra qualche minuto."
    ),
    "The code has expired. Start again to get a new one.": (
        "Il codice è scaduto. Ricomincia per ottenerne uno nuovo."
    ),
    "The license server refused: {reason}": "Il server delle licenze ha rifiutato: {reason}",
    "The license on this device was issued to another device. Enter your activation code again.": (
        "La licenza su questo dispositivo è stata emessa per un altro dispositivo. Inserisci "
        "di nuovo il codice di attivazione."
    ),
    "This license is blocked. Contact customer support.": (
        "Questa licenza è bloccata. Contatta il servizio clienti."
    ),
    "This license was removed from this device. Enter your activation code to use it here again.": (
        "Questa licenza è stata rimossa da questo dispositivo. Inserisci il codice di "
        "attivazione per usarla di nuovo qui."
    ),
    "The license server no longer accepts this license on this device. Connect to the "
    "internet to check it again, or contact customer support.": (
        "Il server delle licenze non accetta più questa licenza su questo dispositivo. "
        "Collegati a internet per verificarla di nuovo oppure contatta il servizio clienti."
    ),
    "This device already has another license that is still valid. Remove it from this "
    "device first, then restore the backup.": (
        "Su questo dispositivo c'è già un'altra licenza ancora valida. Rimuovila prima da "
        "questo dispositivo, poi ripristina il backup."
    ),
    "This device's clock is wrong. Set the right date and time, then try again.": (
        "L'orologio di questo dispositivo è sbagliato. Imposta la data e l'ora corrette, "
        "poi riprova."
    ),
    "The license could not be verified: it may have been changed. Enter your activation "
    "code again, or contact customer support.": (
        "Non è stato possibile verificare la licenza: potrebbe essere stata modificata. "
        "Inserisci di nuovo il codice di attivazione oppure contatta il servizio clienti."
    ),
    "This backup was saved on another computer without a passphrase, so it opens only "
    "there. Enter your activation code instead (it is in the Licenses section of My "
    "Account).": (
        "Questo backup è stato salvato su un altro computer senza passphrase, quindi si apre "
        "solo lì. Inserisci invece il codice di attivazione (si trova nella sezione Licenze "
        "del tuo account)."
    ),
    "This backup was saved on another computer. Enter the passphrase chosen when it was saved.": (
        "Questo backup è stato salvato su un altro computer. Inserisci la passphrase scelta "
        "al momento del salvataggio."
    ),
    "This passphrase does not open the backup. Check it and try again.": (
        "Questa passphrase non apre il backup. Controllala e riprova."
    ),
    "This file is not a license backup, or it is damaged.": (
        "Questo file non è un backup della licenza, oppure è danneggiato."
    ),
    "The file cannot be used: {reason}": "Impossibile usare il file: {reason}",
    "Something went wrong: {reason}": "Qualcosa è andato storto: {reason}",
}


def translate(text: str, language: str) -> str:
    """``text`` in ``language``; English (the id itself) when there is no translation."""
    if language == "it":
        return ITALIAN.get(text, text)
    return text


class Translator:
    """``_("Devices: {used} of {allowed}", used=1, allowed=3)`` in one language."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
        self.language = language

    def __call__(self, text: str, **values: object) -> str:
        translated = translate(text, self.language)
        return translated.format(**values) if values else translated


def language_from_environment(environment: Mapping[str, str]) -> str:
    """The language the customer's session uses (POSIX order: LC_ALL, LC_MESSAGES,
    LANG), when the app speaks it; else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environment.get(name, "")
        if value:
            language = value.split("_")[0].split(".")[0].lower()
            return language if language in LANGUAGES else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def format_date(moment: date | datetime, language: str) -> str:
    """A date nobody can misread: "1 March 2027", "1 marzo 2027"."""
    day = moment.date() if isinstance(moment, datetime) else moment
    months = MONTHS.get(language, MONTHS[DEFAULT_LANGUAGE])
    return f"{day.day} {months[day.month - 1]} {day.year}"
