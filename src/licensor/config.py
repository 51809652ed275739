"""Settings, read once from ``LICENSOR_*`` environment variables (and an optional .env)."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from email.utils import formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from licensor import brand

# "provider:product=plan", comma-separated (LICENSOR_FULFILMENT_PRODUCTS).
_PRODUCT_PLAN = r"[a-z]+:[^=,]+=[a-z0-9_-]+"
_FULFILMENT_PRODUCTS = rf"^\s*({_PRODUCT_PLAN}\s*(,\s*{_PRODUCT_PLAN}\s*)*)?$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LICENSOR_", env_file=".env", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str = ""  # default: a SQLite file under var_dir
    # PostgreSQL only (docs/database.md). A database that stops answering costs a request
    # a bounded wait and a 503, never a hung process: connecting gives up after
    # connect_timeout seconds (libpq's, at least 2); a statement after
    # statement_timeout_ms on the server (0: none), and on our side a connect timeout
    # later, for a server that cannot even say so (stopped, SIGSTOPped).
    database_connect_timeout: int = Field(default=5, ge=2, le=300)
    database_statement_timeout_ms: int = Field(default=10_000, ge=0, le=3_600_000)
    # Connections each process keeps (pool_size) and may open beyond them under load
    # (max_overflow); a request waits pool_timeout seconds for one, then answers 503.
    # `licensor serve` refuses processes x (pool + overflow + 1) beyond this host's share
    # of what the server allows (max_connections_share of max_connections, less those
    # reserved for superusers): other hosts and workers use the same server.
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_max_overflow: int = Field(default=5, ge=0, le=1000)
    database_pool_timeout: float = Field(default=10.0, gt=0, le=300)
    database_max_connections_share: float = Field(default=1.0, gt=0, le=1)
    # On: the URL leads to PgBouncer in transaction pooling mode: no prepared statements,
    # no startup options (the statement timeout is set on the role), and no check against
    # max_connections, which PgBouncer's own pool guards (docs/database.md).
    database_pgbouncer: bool = False
    smtp_url: str | None = None  # smtp://host:port; unset: mail waits in the outbox
    # An explicit development setting (``licensor demo`` turns it on): without SMTP, mail
    # is shown at /dev/mail on a loopback listener, never behind an https base URL.
    dev_mailbox: bool = False
    redis_url: str | None = None  # shared rate limits; unset: in-process
    # Each Redis call's connect and read timeout: an outage costs a request this, no more.
    redis_timeout_seconds: float = Field(default=0.25, gt=0, le=30)
    base_url: str = "http://127.0.0.1:8000"  # how customers reach us: links in mail
    product_name: str = "Licensor"
    mail_from: str = "Licensor <no-reply@licensor.local>"
    # The vendor's brand on pages and in mail (licensor/brand.py, docs/brand.md): each
    # setting beats the same key of brand_file (TOML: name, logo, color). brand_name
    # becomes product_name, and mail_from's sender name unless mail_from names one.
    brand_name: str | None = None
    brand_logo: Path | None = None  # an SVG or PNG file, served at /brand/logo
    brand_color: str | None = None  # #rrggbb; refused at start under 4.5:1 with white
    brand_file: Path | None = None

    # Key material. Each value is one or more "id:base64url" entries separated by commas,
    # the first being the one in use; unset, the keys are read from keys_dir and, when
    # creates_keys (below), created there on first start.
    keys_dir: Path | None = None
    create_keys: bool | None = None  # unset: on for the embedded SQLite default only
    code_encryption_keys: str | None = None
    blind_index_key: str | None = None
    signing_keys: str | None = None

    rate_limits: Literal["on", "off"] = "on"
    activation_rate: str = "20/minute"
    validation_rate: str = "600/minute"

    # How long a license file may be trusted offline before the app must check online.
    offline_days: int = Field(default=14, ge=1, le=365)
    # How often a seat's last-seen time is written on validation, at most.
    seen_interval_seconds: int = 3600
    # How long a signed license file is handed out again to the same device before a
    # fresh one is signed (docs/adr/0003); 0 signs one for every validation.
    license_file_refresh_seconds: int = Field(default=3600, ge=0, le=86400)
    # Validation reads: "inline" through a connection of the validator's own (SQLite's on
    # the event loop, PostgreSQL's asynchronous: fastest, and never holding up the loop),
    # or "pool" from the thread pool (for a database far enough away that one
    # connection's round trips, taken in turn, would limit the answers a second).
    validation_reads: Literal["inline", "pool"] = "inline"
    # "off" answers validation through the documented FastAPI route alone, as the fast
    # path's equivalence test does (docs/adr/0003).
    validation_fast_path: Literal["on", "off"] = "on"

    # Web sessions: signed out after this much idleness, and after this long in any case.
    session_idle_minutes: int = 120
    session_absolute_hours: int = 24 * 7
    # A MaxMind GeoLite2 City or Country file: the security page and the new-sign-in mail
    # then name a sign-in's city and country beside its address (needs the maxminddb
    # package; unset: the address alone, docs/security.md).
    geoip_database: Path | None = None
    # Sign-in per address; each account is throttled besides (accounts/throttle.py).
    signin_rate: str = "10/minute"
    signup_rate: str = "5/minute"
    # Reset mails per email (more requests get the same page and send nothing); per
    # address the limit is signup_rate.
    reset_rate: str = "3/hour"
    link_rate: str = "10/minute"
    # An owner replacing a license's code (My Account), per account: each makes a code and a mail.
    code_replace_rate: str = "10/day"
    lookup_rate: str = "5/minute"  # order lookups, per address
    lookup_resend_rate: str = "5/hour"  # an order mailed again by lookups, at most
    support_rate: str = "5/minute"  # support requests and replies sent, per address
    # The Tesseract binary that reads screenshots (licensor worker); unset: found on PATH.
    tesseract: str | None = None
    # Where screenshots' encrypted bytes live (support/attachments.py): in the database,
    # which every host shares; an object store may follow behind the same interface.
    attachment_store: Literal["database"] = "database"
    follow_rate: str = "60/minute"  # support follow-link pages and screenshots, per address
    partner_rate: str = "120/minute"  # partner API, per key
    subscription_grace_days: int = 7  # a failed renewal keeps the license this long
    # Expiry reminders go out this many days before a license or subscription ends.
    expiry_reminder_days: str = Field(default="30,7,1", pattern=r"^[1-9]\d{0,2}(, ?[1-9]\d{0,2})*$")

    # Mail worker: how long a claimed batch is reserved before another worker may retry it.
    mail_lease_seconds: int = 300
    # Webhooks (docs/webhooks.md): on, they may go to loopback and private networks (tests,
    # an intranet's receiver); off, such a URL is refused (SSRF). license.expiring goes
    # out this many days before a license ends.
    webhooks_allow_private: bool = False
    webhook_expiring_days: int = Field(default=7, ge=1, le=365)

    # Store checkout (docs/payments.md): "test", the built-in test provider (a card form of
    # ours that takes fake cards), or "package.module:factory" for a real provider.
    payment_provider: str = "test"
    # The test provider hands out codes for fake cards, so it refuses an https base_url (a
    # real deployment) unless this is set, for a staging server.
    allow_test_payments: bool = False
    # LICENSOR_PAYMENT_PROVIDER=stripe (store/stripe_provider.py): the secret API key
    # (sk_live_…, or sk_test_… for Stripe's test mode), the webhook endpoint's signing
    # secret (whsec_…), and the API's address (changed only by tests, to a local server).
    stripe_secret_key: str = Field(default="", repr=False)
    stripe_webhook_secret: str = Field(default="", repr=False)
    stripe_api_base: str = "https://api.stripe.com"
    checkout_rate: str = "10/minute"  # checkout starts, per address
    # Merchant-of-record stores (store/fulfilment/, docs/payments.md): each one's webhook
    # signing secret (empty: its webhook answers 404), and which of their products or
    # prices is which of our plans: "paddle:pri_01h…=standard,lemonsqueezy:123456=plus,
    # fastspring:suite-1y=standard" (Lemon Squeezy: a variant id, else a product id).
    paddle_webhook_secret: str = Field(default="", repr=False)
    lemonsqueezy_webhook_secret: str = Field(default="", repr=False)
    fastspring_webhook_secret: str = Field(default="", repr=False)
    fulfilment_products: str = Field(default="", pattern=_FULFILMENT_PRODUCTS)
    # Paddle signs a timestamp: older (or further ahead) than this, a delivery is a replay.
    # Paddle's own libraries allow 5 seconds; a little more absorbs clock drift.
    paddle_webhook_tolerance_seconds: int = Field(default=30, ge=1, le=3600)
    # FastSpring's "Remote Server Request" license generator: its private key (empty: the
    # generator's address answers 404). FastSpring shows our codes on its own receipt.
    fastspring_license_key: str = Field(default="", repr=False)
    # Further addresses added (or their link sent again), and "find my purchases", per
    # account: each sends mail to an address the visitor typed or holds.
    account_email_rate: str = "5/hour"
    find_purchases_rate: str = "3/hour"

    # Who sells, as receipts name it (store/receipts.py); an empty name is product_name's.
    seller_name: str = ""
    seller_address: str = ""  # lines separated by ";"
    seller_vat_id: str = ""
    # Plans' prices include VAT at this rate (0: no VAT shown). Each order keeps its tax
    # part in cents, worked out when the order is made (docs/orders.md).
    vat_percent: Decimal = Field(default=Decimal(0), ge=0, lt=100)

    # Who may read GET /metrics: comma-separated addresses or CIDR networks, matched
    # against the client's address (the proxy's forwarded one only behind a trusted proxy,
    # `serve --forwarded-allow-ips`); others get a 404 (docs/monitoring.md).
    metrics_allow: str = "127.0.0.1/8,::1"

    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names it
        return value

    @model_validator(mode="after")
    def _brand(self) -> Settings:
        chosen = brand.choose(self.brand_file, self.brand_name, self.brand_logo, self.brand_color)
        self.brand_logo, self.brand_color = chosen.logo, chosen.color or brand.DEFAULT_COLOR
        if chosen.name is not None:
            self.brand_name = self.product_name = chosen.name
            sender_name, address = parseaddr(self.mail_from)
            if "mail_from" not in self.model_fields_set or not sender_name:
                self.mail_from = formataddr((chosen.name, address or "no-reply@licensor.local"))
        return self

    @field_validator("var_dir", "keys_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'licensor.db'}"

    def url(self, path: str) -> str:
        """The public address of a path here, as links in mail and answers give it."""
        return self.base_url.rstrip("/") + path

    @property
    def mail_domain(self) -> str:
        """The domain of ``mail_from``, for the Message-IDs of what we send."""
        return self.mail_from.rsplit("@", 1)[-1].strip(" >") or "licensor.local"

    @property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir or self.var_dir / "keys"

    @property
    def creates_keys(self) -> bool:
        """Whether missing keys are made here: LICENSOR_CREATE_KEYS, or unset, only for a
        SQLite database (one host). Hosts sharing PostgreSQL must share keys, so none of
        them may quietly make its own (docs/keys.md)."""
        if self.create_keys is not None:
            return self.create_keys
        return self.resolved_database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
