"""``GET /metrics`` (SPEC "operations", issue 13 item 8): Prometheus text with ``licensor_``
names, moved by what clients did; summed over every process of ``serve --workers 2``; and
unseen (a 404 like any unknown path) from an address outside ``LICENSOR_METRICS_ALLOW``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from licensor import jobs
from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.store.order_lookup import LookupRequest
from tests.accounts.factories import MakeAccount, link
from tests.cli_support import cli_environment, serving
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, device, try_activate, validate
from tests.store.factories import MakeOrder, MakePartner
from tests.support import free_port, serve, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> Samples:
    """Every sample of ``/metrics``, by name and labels."""
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_activations_validations_and_a_recovery_move_their_counters(
    api: httpx.Client,
    make_code: MakeCode,
    make_account: MakeAccount,
    open_unit: OpenUnit,
    clock: Clock,
) -> None:
    before = scrape(api)
    machine = device()
    activated = activate(api, make_code(), machine)
    unknown = try_activate(api, "6JPET-26GV0-A08J5-BT3ZX")  # well-formed, never issued
    assert unknown.status_code in (404, 422), unknown.text
    for _ in range(3):
        validate(api, activated["license_key"], machine["fingerprint"])
    validate(api, "0" * 32, machine["fingerprint"])
    customer = make_account()
    assert link(api, customer, activated["license_key"], machine["fingerprint"]).status_code == 200
    with open_unit() as unit:  # a job no worker takes
        jobs.enqueue(unit.session, clock.now(), "metrics.test")
    clock.advance(timedelta(minutes=5))

    after = scrape(api)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("licensor_activations_total", outcome="activated") == 1
    assert moved("licensor_activations_total", outcome=unknown.json()["code"]) == 1
    assert moved("licensor_validations_total", status="active") == 3
    assert moved("licensor_validations_total", status="unknown") == 1
    assert moved("licensor_recoveries_total", channel="account_link") == 1
    assert moved("licensor_recoveries_total", channel="support_desk") == 0
    validations = {"method": "POST", "route": "/api/v1/licenses/validate", "status": "2xx"}
    assert moved("licensor_http_request_duration_seconds_count", **validations) == 4
    activations = {"method": "POST", "route": "/api/v1/activations", "status": "2xx"}
    assert moved("licensor_http_request_duration_seconds_count", **activations) == 1
    # The mail the link sent waits (no worker here), as does the job, five minutes now.
    assert value(after, "licensor_outbox_pending_messages") >= 1
    assert value(after, "licensor_outbox_oldest_pending_age_seconds") >= 300
    assert value(after, "licensor_jobs_due") >= 1
    assert value(after, "licensor_job_lag_seconds") >= 300
    assert value(after, "licensor_metrics_database_up") == 1
    assert value(after, "licensor_db_pool_size") >= 1


def test_order_lookups_count_as_the_store_or_the_partner_channel(
    api: httpx.Client, make_order: MakeOrder, make_partner: MakePartner, open_unit: OpenUnit
) -> None:
    before = scrape(api)
    store_order = make_order()
    partner_order = make_order(partner=make_partner().slug)
    with open_unit() as unit:  # as the worker's job answers the lookup form (ADR 0006)
        for order in (store_order, partner_order, partner_order):
            unit.order_lookup.look_up(
                LookupRequest(order.number, None, "Mario Rossi", order.email), client="test"
            )
        unit.order_lookup.look_up(  # no such order: nothing recovered
            LookupRequest("NO-SUCH-1", None, "Mario Rossi", store_order.email), client="test"
        )

    after = scrape(api)

    def moved(channel: str) -> float:
        name = "licensor_recoveries_total"
        return value(after, name, channel=channel) - value(before, name, channel=channel)

    assert moved("order_lookup") == 1
    assert moved("partner_pointer") == 2
    assert moved("account_link") == moved("support_desk") == 0


def test_labels_name_route_templates_never_what_a_client_sent(api: httpx.Client) -> None:
    secret_path = "/api/v1/partner/orders/ORDER-SECRET-42"
    api.get(secret_path, headers={"authorization": "Bearer lp_00000000_" + "x" * 24})
    api.get("/no/such/page/6JPET-26GV0")
    api.request("PROPFIND", "/api/v1/activations")

    samples = scrape(api)
    labels = {value for _, pairs in samples for _, value in pairs}

    assert "/api/v1/partner/orders/{number}" in labels
    assert "unmatched" in labels
    assert "other" in labels  # the method nobody knows
    assert not any("SECRET" in label or "6JPET" in label or "PROPFIND" in label for label in labels)
    names = {name for name, _ in samples}
    ours = {name for name in names if name.startswith("licensor_")}
    assert ours >= {
        "licensor_http_request_duration_seconds_bucket",
        "licensor_activations_total",
        "licensor_validations_total",
        "licensor_recoveries_total",
        "licensor_outbox_pending_messages",
        "licensor_job_lag_seconds",
        "licensor_db_pool_connections_in_use",
    }


@pytest.fixture(scope="module")
def only_127_0_0_1(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock
) -> Iterator[str]:
    """A server whose metrics are for 127.0.0.1 alone; 127.0.0.2 is another machine."""
    narrow = settings.model_copy(update={"metrics_allow": "127.0.0.1/32"})
    with serve(create_app(narrow, database=database, keyring=keyring, app_clock=clock)) as url:
        yield url


def _from(address: str, url: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=url, transport=transport, timeout=30)


def test_an_address_not_allowed_gets_the_404_of_a_path_that_does_not_exist(
    only_127_0_0_1: str,
) -> None:
    with _from("127.0.0.1", only_127_0_0_1) as allowed, _from("127.0.0.2", only_127_0_0_1) as other:
        assert allowed.get("/metrics").status_code == 200
        refused = allowed.post("/metrics")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD"

        for method in ("GET", "POST", "DELETE"):
            hidden = other.request(method, "/metrics")
            missing = other.request(method, "/no-such-page")
            assert hidden.status_code == missing.status_code == 404, method
            assert hidden.text == missing.text.replace("/no-such-page", "/metrics")
            assert "allow" not in hidden.headers
        # A forwarded address is not believed from a proxy nobody said to trust...
        forwarded = other.get("/metrics", headers={"x-forwarded-for": "127.0.0.1"})
        assert forwarded.status_code == 404
        # ...and is the client's from one trusted (the test server trusts 127.0.0.1, as
        # licensor serve --forwarded-allow-ips 127.0.0.1 would): the proxy's own address
        # does not let the world in.
        through_proxy = allowed.get("/metrics", headers={"x-forwarded-for": "203.0.113.7"})
        assert through_proxy.status_code == 404
        assert allowed.head("/metrics").status_code == 200


# --- several processes -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_processes(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``licensor serve --workers 2`` on the test database, with the test server's keys."""
    environment = cli_environment(settings.var_dir, settings.database_url)
    with serving(
        environment, tmp_path_factory.mktemp("serve"), free_port(), "--workers", "2"
    ) as url:
        yield url


def _directory_of(settings: Settings) -> Path:
    directories = [path for path in (settings.var_dir / "metrics").iterdir() if path.is_dir()]
    assert len(directories) == 1, directories
    return directories[0]


@pytest.mark.postgres_only  # SQLite takes one process (licensor serve refuses two)
@pytest.mark.slow
def test_with_two_processes_every_scrape_counts_what_both_answered(
    two_processes: str, settings: Settings
) -> None:
    fingerprint = "f" * 32
    answered = 60
    for _ in range(answered):
        # A connection of its own each time, so that both processes take some.
        with httpx.Client(base_url=two_processes, timeout=30) as client:
            validate(client, "0" * 32, fingerprint)
    files = {path.name for path in _directory_of(settings).glob("counter_*.db")}
    assert len(files) == 2, files  # both processes counted

    route = {"method": "POST", "route": "/api/v1/licenses/validate", "status": "2xx"}

    def timed(samples: Samples) -> float:
        return value(samples, "licensor_http_request_duration_seconds_count", **route)

    def fresh_scrape() -> Samples:
        with httpx.Client(base_url=two_processes, timeout=30) as client:
            return scrape(client)

    # Latencies reach the shared files within a second (metrics.FLUSH_SECONDS).
    wait_until(lambda: timed(fresh_scrape()) == answered, "both processes' latencies", timeout=15)
    for _ in range(6):  # whichever process answers the scrape
        samples = fresh_scrape()
        assert value(samples, "licensor_validations_total", status="unknown") == answered
        assert timed(samples) == answered
