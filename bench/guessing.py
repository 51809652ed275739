"""Guessing activation codes and order numbers against a live server, from five addresses.

What an attacker gets in a minute (issue 11's figure): five clients, each bound to its own
loopback address (127.0.0.2-6), send guesses as fast as the server answers, against

* ``POST /api/v1/activations``: random codes whose check value holds (the cheapest guess
  that reaches the lookup: a mistyped one is refused before it);
* ``POST /orders/lookup``: a real buyer's name and email (an attacker may know them) with
  random order numbers of the store's shape.

The server is ``licensor serve`` with the production defaults of the limits (activation
20/minute, lookup 5/minute per address and per email), one process, in a fresh
installation holding ``--codes`` unused codes and one store order. It counts, per
endpoint: requests sent, answers that reached the check (not 429), 429s, other answers,
and hits: codes activated, and orders mailed (the worker runs the queued lookups at the
end and the mails for the real order are counted).

    .venv/bin/python bench/guessing.py [--seconds 60] [--database postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import threading
import time
from collections import Counter

import httpx
from support import (
    PLAN,
    Installation,
    Report,
    add_common_arguments,
    command_line,
    free_port,
    installation,
    licensor_command,
    wait_for_port,
)

ADDRESSES = [f"127.0.0.{last}" for last in range(2, 7)]
LOOKUP = "/orders/lookup"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _guess_code() -> str:
    from licensor.licensing import formats

    return formats.format_code(formats.generate_code())


def _guess_number() -> str:
    from licensor.store.orders import generate_order_number

    return generate_order_number()


def attack(
    url: str, address: str, until: float, buyer: dict[str, str], counts: Counter[str]
) -> None:
    transport = httpx.HTTPTransport(local_address=address)
    fingerprint = hashlib.sha256(address.encode()).hexdigest()
    with httpx.Client(base_url=url, transport=transport, timeout=30) as client:
        token_match = _TOKEN.search(client.get(LOOKUP).text)
        token = token_match.group(1) if token_match else ""
        while time.monotonic() < until:
            activation = client.post(
                "/api/v1/activations",
                json={
                    "activation_code": _guess_code(),
                    "device": {"fingerprint": fingerprint, "name": "PC", "platform": "linux"},
                },
            )
            counts[f"activation:{_outcome(activation)}"] += 1
            lookup = client.post(
                LOOKUP,
                data={
                    "csrf_token": token,
                    "where": "store",
                    "order_number": _guess_number(),
                    "purchased_on": "",
                    "name": buyer["name"],
                    "email": buyer["email"],
                },
            )
            counts[f"lookup:{_outcome(lookup)}"] += 1


def _outcome(response: httpx.Response) -> str:
    if response.status_code == 429:
        return "429"
    if response.status_code in (200, 201):
        return "answered" if response.request.url.path == LOOKUP else "hit"
    if response.status_code == 404:
        return "answered"  # code_unknown: the guess reached the lookup and missed
    return f"other-{response.status_code}"


def _mailed(setup: Installation, email: str) -> int:
    from sqlalchemy import create_engine, func, select

    from licensor.models import OutboxMessage

    engine = create_engine(setup.database_url)
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.recipient == email)
        ).scalar_one()
    engine.dispose()
    return int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--codes", type=int, default=10_000, help="unused codes in the batch")
    arguments = parser.parse_args()
    report = Report("guessing", arguments.database, command_line())
    with installation(arguments.database, keep=arguments.keep) as setup:
        setup.run(
            "codes",
            "issue",
            "--plan",
            PLAN,
            "--count",
            str(arguments.codes),
            "--out",
            str(setup.root / "cards.csv"),
        )
        buyer = {"name": "Maria Rossi", "email": "maria.rossi@example.com"}
        setup.run(
            "orders", "create", "--plan", PLAN, "--email", buyer["email"], "--name", buyer["name"]
        )
        mailed_before = _mailed(setup, buyer["email"])
        port = free_port()
        environment = setup.environment(LICENSOR_RATE_LIMITS="on")
        server = subprocess.Popen(
            [*licensor_command(), "serve", "--port", str(port)],
            cwd=setup.root,
            env=environment,
        )
        try:
            wait_for_port(port, server)
            url = f"http://127.0.0.1:{port}"
            counts: Counter[str] = Counter()
            until = time.monotonic() + arguments.seconds
            threads = [
                threading.Thread(target=attack, args=(url, address, until, buyer, counts))
                for address in ADDRESSES
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
        # The worker runs the queued lookups: a guessed order would be mailed now.
        for _ in range(1000):  # --once runs a batch; run until the queue is empty
            done = subprocess.run(
                [*licensor_command(), "worker", "--once"],
                cwd=setup.root,
                env=environment,
                check=True,
                capture_output=True,
                text=True,
            )
            if "0 background job(s) run" in done.stdout:
                break
        mailed = _mailed(setup, buyer["email"]) - mailed_before
    minutes = arguments.seconds / 60
    for endpoint in ("activation", "lookup"):
        sent = sum(count for key, count in counts.items() if key.startswith(endpoint + ":"))
        answered = counts[f"{endpoint}:answered"] + counts[f"{endpoint}:hit"]
        report.add(
            endpoint=endpoint,
            addresses=len(ADDRESSES),
            seconds=arguments.seconds,
            sent=sent,
            reached_the_check=answered,
            per_address_minute=round(answered / len(ADDRESSES) / minutes, 1),
            rate_limited_429=counts[f"{endpoint}:429"],
            other=sum(c for k, c in counts.items() if k.startswith(f"{endpoint}:other")),
            hits=counts["activation:hit"] if endpoint == "activation" else mailed,
        )
    report.notes.append(
        f"{arguments.codes:,} unused codes of 2^80 possible; one store order; "
        "limits at their defaults (activation 20/minute, lookup 5/minute per address and "
        "per email)"
    )
    report.print()
    report.write(arguments.json)


if __name__ == "__main__":
    main()
