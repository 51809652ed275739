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
  elsewhere is slowed. Its mark is bound to the account and the time its password last
  changed, so a reset (or a change) ends what a browser known before could skip.

The state is kept per email under a keyed hash, known account or not, so an unknown
email is throttled exactly as a known one (no enumeration), in the rate-limit store
(memory or Redis). Each attempt is claimed, counted as a failure, before the secret is
checked, in one atomic step of the store (``RateLimiter.claim``): so a burst of
concurrent guesses cannot all pass one check, and a throttled attempt never reaches the
check. A success clears the email's state (``succeeded``); an attempt that proved the
password but is not yet a sign-in (a second factor is due) is given back (``give_back``);
a completed reset clears it too.

Counts that never reached the delay are forgotten a day after their last failure
(``FRESH_STATE_SECONDS``), the rest after 90 days: someone typing a new email at every
try leaves a day's tallies behind, not three months' (see also ``MAX_TALLIES``).
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
from licensor.models import Account
from licensor.ratelimit import Backoff, Claim, RateLimiter

PAIR_LIMIT = 10
PAIR_WINDOW = 15 * 60
DELAY_AFTER = 10
DELAY_CAP = 5 * 60
FAILURE_LIMIT = 100
STATE_SECONDS = 90 * 86400  # consecutive failures past the delay are remembered this long
FRESH_STATE_SECONDS = 86400  # ... and fewer, that never slowed anyone, this long
LOCKED_RETRY_AFTER = 3600  # what a locked account's 429 says: the lock ends with a reset

PAIR_BACKOFF = Backoff(limit=PAIR_LIMIT, free=PAIR_LIMIT, delay_cap=0, ttl=PAIR_WINDOW, renew=False)
EMAIL_BACKOFF = Backoff(
    limit=FAILURE_LIMIT,
    free=DELAY_AFTER,
    delay_cap=DELAY_CAP,
    ttl=STATE_SECONDS,
    fresh_ttl=FRESH_STATE_SECONDS,
)

KNOWN_BROWSER_COOKIE = "licensor_known"
KNOWN_BROWSER_DAYS = 365
KNOWN_BROWSER_ENTRIES = 5  # accounts one browser is remembered for


class SignInThrottled(RateLimited):
    """Too many failures: for this pair, for now (a delay), or until a reset (``locked``)."""

    def __init__(self, retry_after: int, *, locked: bool = False) -> None:
        super().__init__(retry_after)
        self.locked = locked


@dataclass(frozen=True)
class Attempt:
    """An attempt at an account's secret, counted as a failure until it succeeds."""

    email_key: str
    address: str
    pair: Claim
    email: Claim


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

    def attempt(self, email_key: str, address: str, *, known_browser: bool) -> Attempt:
        """Claim an attempt for the pair and the email before the secret is checked, or
        raise SignInThrottled (and count nothing) if it must not be tried now. The
        attempt stays counted as a failure unless ``succeeded`` or ``give_back`` follows.
        A known browser's attempt counts for the email but is not held by it."""
        pair_key, email_state = self._pair(email_key, address), self._email(email_key)
        pair = self.limiter.claim(pair_key, PAIR_BACKOFF)
        if not pair.allowed:
            raise SignInThrottled(_seconds(pair.retry_after))
        email = self.limiter.claim(email_state, EMAIL_BACKOFF, enforce=not known_browser)
        if not email.allowed:
            self.limiter.release(pair_key, pair)
            if email.locked:
                raise SignInThrottled(LOCKED_RETRY_AFTER, locked=True)
            raise SignInThrottled(_seconds(email.retry_after))
        return Attempt(email_key, address, pair, email)

    def give_back(self, attempt: Attempt) -> None:
        """The attempt was no failure (the password was right, but a second factor is
        still due; or the form failed on something else): uncount it."""
        self.limiter.release(self._email(attempt.email_key), attempt.email)
        self.limiter.release(self._pair(attempt.email_key, attempt.address), attempt.pair)

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
    # Entries "email_key.issued_day.mac" joined by "~", newest first. The MAC binds each
    # entry to this installation's key, so it cannot be made up, and to the account and
    # its password as stored (``binding``: a new salt at every change, even within the
    # clock's second, unlike the time of the change), so a reset voids it. An unknown
    # email's entries are checked against a binding of no account: the same work, and
    # never a match.

    @staticmethod
    def binding(account: Account | None) -> str:
        if account is None:
            return "no account"
        return f"{account.id}:{account.password_hash}"

    def known_browser(self, cookie: str | None, email_key: str, binding: str, today: int) -> bool:
        known = False
        for key, day, mac in self._entries(cookie):
            if key == email_key and hmac.compare_digest(mac, self._mac(key, day, binding)):
                known = known or today - day <= KNOWN_BROWSER_DAYS
        return known

    def remember_browser(self, cookie: str | None, email_key: str, binding: str, today: int) -> str:
        """The cookie's new value, with this account at its head (the other accounts'
        entries are kept as they are: only their own sign-in can check them)."""
        kept = [entry for entry in self._entries(cookie) if entry[0] != email_key]
        entries = [(email_key, today, self._mac(email_key, today, binding)), *kept]
        return "~".join(f"{key}.{day}.{mac}" for key, day, mac in entries[:KNOWN_BROWSER_ENTRIES])

    @staticmethod
    def _entries(cookie: str | None) -> list[tuple[str, int, str]]:
        found = []
        for entry in (cookie or "")[:1000].split("~"):
            parts = entry.split(".")
            if len(parts) == 3 and parts[1].isdigit() and len(parts[1]) < 9:
                found.append((parts[0], int(parts[1]), parts[2]))
        return found

    def _mac(self, email_key: str, day: int, binding: str) -> str:
        message = f"known:{email_key}:{day}:{binding}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:18]).decode()


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))
