"""Sign-in throttling that slows the attacker, not the owner.

A per-email window (10 failures and the email is shut for everyone) lets anyone lock
the owner out. Instead (NIST SP 800-63B, 5.2.2):

- each (email, address) pair may fail ``PAIR_LIMIT`` times in ``PAIR_WINDOW`` seconds;
  beyond that only that pair is refused;
- each email, past ``DELAY_AFTER`` consecutive failures, waits 1, 2, 4, ... seconds after
  its last failure (2^(n - DELAY_AFTER - 1) after n failures, at most ``DELAY_CAP``)
  before the next try;
- after ``FAILURE_LIMIT`` consecutive failures, only a password reset signs in;
- a browser that signed in to the account before (the signed, HttpOnly "known browser"
  cookie) is spared the delay and the limit, so the owner signs in while an attacker
  elsewhere is slowed.

The state is kept per email under a keyed hash, known account or not, so an unknown
email is throttled exactly as a known one (no enumeration), in the rate-limit store
(memory or Redis). A throttled attempt never reaches the password check. A successful
sign-in and a completed reset clear the email's state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from dataclasses import dataclass

from licensor.accounts.service import normalize_email
from licensor.errors import RateLimited
from licensor.keys import Keyring
from licensor.ratelimit import RateLimiter

PAIR_LIMIT = 10
PAIR_WINDOW = 15 * 60
DELAY_AFTER = 10
DELAY_CAP = 5 * 60
FAILURE_LIMIT = 100
STATE_SECONDS = 90 * 86400  # consecutive failures are remembered this long
LOCKED_RETRY_AFTER = 3600  # what a locked account's 429 says: the lock ends with a reset

KNOWN_BROWSER_COOKIE = "licensor_known"
KNOWN_BROWSER_DAYS = 365
KNOWN_BROWSER_ENTRIES = 5  # accounts one browser is remembered for


class SignInThrottled(RateLimited):
    """Too many failures: for this pair, for now (a delay), or until a reset (``locked``)."""

    def __init__(self, retry_after: int, *, locked: bool = False) -> None:
        super().__init__(retry_after)
        self.locked = locked


@dataclass(frozen=True)
class SignInThrottle:
    limiter: RateLimiter
    key: bytes  # Keyring.derive(PURPOSE)

    PURPOSE = b"sign-in throttle"

    @classmethod
    def of(cls, limiter: RateLimiter, keyring: Keyring) -> SignInThrottle:
        return cls(limiter, keyring.derive(cls.PURPOSE))

    def email_key(self, email: str) -> str:
        """A keyed hash naming the email in the store and in audit rows."""
        digest = hmac.new(self.key, normalize_email(email).encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    # --- the rules ----------------------------------------------------------------------

    def check(self, email_key: str, address: str, *, known_browser: bool) -> None:
        """Raise SignInThrottled if this attempt must not be tried now."""
        now = self.limiter.now()
        pair = self.limiter.tally(self._pair(email_key, address))
        if pair is not None and pair.count >= PAIR_LIMIT:
            raise SignInThrottled(_seconds(pair.expires - now))
        if known_browser:
            return
        state = self.limiter.tally(self._email(email_key))
        if state is None:
            return
        if state.count >= FAILURE_LIMIT:
            raise SignInThrottled(LOCKED_RETRY_AFTER, locked=True)
        if state.count > DELAY_AFTER:
            ready = state.last + min(2 ** (state.count - DELAY_AFTER - 1), DELAY_CAP)
            if now < ready:
                raise SignInThrottled(_seconds(ready - now))

    def failed(self, email_key: str, address: str) -> int:
        """Count a failure; the email's consecutive failures so far."""
        self.limiter.add(self._pair(email_key, address), PAIR_WINDOW, renew=False)
        return self.limiter.add(self._email(email_key), STATE_SECONDS).count

    def succeeded(self, email_key: str, address: str) -> None:
        self.limiter.clear(self._email(email_key))
        self.limiter.clear(self._pair(email_key, address))

    def reset(self, email_key: str) -> None:
        """A completed password reset: the owner is back in, whatever came before."""
        self.limiter.clear(self._email(email_key))

    @staticmethod
    def _pair(email_key: str, address: str) -> str:
        return f"signin:pair:{email_key}:{address}"

    @staticmethod
    def _email(email_key: str) -> str:
        return f"signin:email:{email_key}"

    # --- the known-browser cookie -------------------------------------------------------
    # Entries "email_key.issued_day.mac" joined by "~", newest first; the MAC binds each
    # entry to this installation's key, so it cannot be made up.

    def known_browser(self, cookie: str | None, email_key: str, today: int) -> bool:
        return any(
            entry_key == email_key and today - issued <= KNOWN_BROWSER_DAYS
            for entry_key, issued in self._entries(cookie)
        )

    def remember_browser(self, cookie: str | None, email_key: str, today: int) -> str:
        """The cookie's new value, with this account at its head."""
        kept = [(key, day) for key, day in self._entries(cookie) if key != email_key]
        entries = [(email_key, today), *kept][:KNOWN_BROWSER_ENTRIES]
        return "~".join(f"{key}.{day}.{self._mac(key, day)}" for key, day in entries)

    def _entries(self, cookie: str | None) -> list[tuple[str, int]]:
        found = []
        for entry in (cookie or "")[:1000].split("~"):
            parts = entry.split(".")
            if len(parts) != 3 or not parts[1].isdigit():
                continue
            key, day, mac = parts[0], int(parts[1]), parts[2]
            if hmac.compare_digest(mac, self._mac(key, day)):
                found.append((key, day))
        return found

    def _mac(self, email_key: str, day: int) -> str:
        digest = hmac.new(self.key, f"known:{email_key}:{day}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:18]).decode()


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))
