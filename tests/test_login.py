"""Console logins in the engine: argon2 passwords, server-side sessions that end on logout, on
expiry, on a new password and when the account is deactivated; ``whistle accounts password``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from engine.errors import InvalidInput, NotFound
from engine.login import (
    LoginFailed,
    LoginSession,
    SessionExpired,
    hash_password,
    log_in,
    log_out,
    purge_sessions,
    set_password,
    verify_password,
    visitor_for,
)
from engine.vocabulary import Role
from tests.fixtures_shared import whistle

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SECRET = "correct horse battery"


@pytest.fixture
def with_password(session, city):
    city.accounts["dept_um"].password_hash = hash_password(SECRET, hasher=CHEAP)
    session.commit()
    return city.accounts["dept_um"]


def test_log_in__opens_a_session_whose_cookie_names_the_accounts_actor(
    session, clock, with_password
):
    made = log_in(session, username="dept_um", password=SECRET, now=clock.now())
    visitor = visitor_for(session, made.token, now=clock.now())
    assert visitor.actor.role == Role.DEPARTMENT
    assert visitor.actor.scope_id == with_password.scope_id
    assert visitor.csrf_ok(made.session.csrf_token)
    assert not visitor.csrf_ok("forged")
    assert not visitor.csrf_ok(None)
    # Only the hash of the cookie's token is stored.
    assert made.token not in {r.token_hash for r in session.scalars(select(LoginSession))}


def test_log_in__rehashes_a_cheap_hash_with_the_real_cost(session, clock, with_password):
    log_in(session, username="dept_um", password=SECRET, now=clock.now())
    session.refresh(with_password)
    assert "m=19456" in with_password.password_hash
    assert verify_password(with_password.password_hash, SECRET)


@pytest.mark.parametrize(
    ("username", "password"),
    [("dept_um", "wrong password"), ("nobody", SECRET), ("dept_water", SECRET), ("", SECRET),
     ("dept_um", ""), ("dept_um", "x" * 201)],
)  # fmt: skip
def test_log_in__any_mismatch_is_the_same_failure_and_opens_nothing(
    session, clock, with_password, username, password
):
    with pytest.raises(LoginFailed, match="the username or password is wrong"):
        log_in(session, username=username, password=password, now=clock.now())
    assert session.scalars(select(LoginSession)).all() == []


def test_log_in__an_inactive_account_cannot_log_in(session, clock, with_password):
    with_password.active = False
    session.commit()
    with pytest.raises(LoginFailed):
        log_in(session, username="dept_um", password=SECRET, now=clock.now())


def test_session__ends_on_logout_on_expiry_and_on_deactivation(session, clock, with_password):
    first = log_in(session, username="dept_um", password=SECRET, now=clock.now())
    log_out(session, session_id=first.session.id, now=clock.now())
    with pytest.raises(SessionExpired):
        visitor_for(session, first.token, now=clock.now())

    second = log_in(session, username="dept_um", password=SECRET, now=clock.now())
    with pytest.raises(SessionExpired):
        visitor_for(session, second.token, now=clock.now() + timedelta(hours=12))

    third = log_in(session, username="dept_um", password=SECRET, now=clock.now())
    with_password.active = False
    session.commit()
    with pytest.raises(SessionExpired):
        visitor_for(session, third.token, now=clock.now())


def test_session__unknown_or_oversized_tokens_are_not_logged_in(session, clock):
    for token in (None, "", "nope", "x" * 500):
        with pytest.raises(SessionExpired):
            visitor_for(session, token, now=clock.now())


def test_set_password__replaces_the_hash_and_ends_open_sessions(session, clock, with_password):
    made = log_in(session, username="dept_um", password=SECRET, now=clock.now())
    set_password(session, username="dept_um", password="a brand new secret", now=clock.now())
    with pytest.raises(SessionExpired):
        visitor_for(session, made.token, now=clock.now())
    with pytest.raises(LoginFailed):
        log_in(session, username="dept_um", password=SECRET, now=clock.now())
    assert log_in(session, username="dept_um", password="a brand new secret", now=clock.now())


def test_set_password__too_short_or_unknown_account_is_refused_and_changes_nothing(
    session, clock, with_password
):
    before = with_password.password_hash
    with pytest.raises(InvalidInput, match="10 to 200 characters"):
        set_password(session, username="dept_um", password="short", now=clock.now())
    with pytest.raises(NotFound, match="no account 'ghost'"):
        set_password(session, username="ghost", password="long enough pw", now=clock.now())
    session.refresh(with_password)
    assert with_password.password_hash == before


def test_purge__drops_sessions_a_day_past_their_end(session, clock, with_password):
    made = log_in(session, username="dept_um", password=SECRET, now=clock.now())
    log_out(session, session_id=made.session.id, now=clock.now())
    live = log_in(session, username="dept_um", password=SECRET, now=clock.now())
    assert purge_sessions(session, now=clock.now() + timedelta(hours=23)) == 0
    assert purge_sessions(session, now=clock.now() + timedelta(hours=25)) == 1
    assert [r.id for r in session.scalars(select(LoginSession))] == [live.session.id]


def test_cli_accounts_password__sets_a_password_the_console_accepts(cli_env, session, city):
    result = whistle(
        "accounts", "password", "--username", "dept_um", "--password", "from the command line"
    )
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert verify_password(city.accounts["dept_um"].password_hash, "from the command line")


def test_cli_accounts_password__refuses_a_short_password_or_unknown_user(cli_env, session, city):
    short = whistle("accounts", "password", "--username", "dept_um", "--password", "short")
    assert short.exit_code != 0
    assert "10 to 200 characters" in short.output
    ghost = whistle("accounts", "password", "--username", "ghost", "--password", "long enough pw")
    assert ghost.exit_code != 0
    assert "no account 'ghost'" in ghost.output
    session.expire_all()
    assert city.accounts["dept_um"].password_hash is None
