"""Fixtures of the web console tests: the app of ``tests.fixtures_api`` with a password per
account, and clients logged in through the real login form.

Passwords are hashed with cheap argon2 parameters here (the verify step reads them from the
hash), so a test logs in quickly; the first login re-hashes with the real cost, as in production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from engine.clock import ManualClock
from engine.login import hash_password
from tests.fixtures_api import Api

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def password_of(who: str) -> str:
    """The test password of an account."""
    return f"pw-{who}-0123456789"


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found[1]


@dataclass
class Console:
    """The app with logins: ``as_(who)`` gives a client logged in as that account."""

    api: Api
    clients: dict[str, TestClient] = field(default_factory=dict)

    def client(self) -> TestClient:
        """A new browser-like client with no cookies (not logged in)."""
        return TestClient(self.api.app, follow_redirects=False)

    def login(self, client: TestClient, who: str, password: str | None = None) -> httpx2.Response:
        """Log ``client`` in through the form; returns the answer of the POST."""
        page = client.get("/console/login")
        return client.post(
            "/console/login",
            data={
                "csrf_token": csrf_of(page.text),
                "username": who,
                "password": password if password is not None else password_of(who),
                "next": "/console",
            },
        )

    def as_(self, who: str) -> TestClient:
        """A client logged in as ``who`` (one per account, kept for the test)."""
        if who not in self.clients:
            client = self.client()
            answer = self.login(client, who)
            assert answer.status_code == 303, answer.text
            self.clients[who] = client
        return self.clients[who]

    def csrf(self, who: str, path: str = "/console/workflows") -> str:
        """The CSRF token of ``who``'s session, read from a page's form."""
        return csrf_of(self.as_(who).get(path).text)


@pytest.fixture
def console(api: Api, session: Session, clock: ManualClock) -> Iterator[Console]:
    """The API app of this test with a console password for every account."""
    for name, account in api.city.accounts.items():
        account.password_hash = hash_password(password_of(name), hasher=CHEAP)
    session.commit()
    made = Console(api)
    yield made
    for client in made.clients.values():
        client.close()
