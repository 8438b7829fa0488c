"""The HTTP floors of intake and of a transition: bare FastAPI routes on the same stack as
``whistle api``.

``POST /api/v1/cases`` here does only what any intake must: read the bearer token's account (one
SELECT on the same ``api_tokens`` table, by the same hash), insert one row, commit.
``POST /open311/v2/requests.json`` does the same from a form-encoded GeoReport request (its
fields parsed as FastAPI parses any form, the key in ``api_key``).
``POST /api/v1/cases/{id}/transitions`` (and the same under ``/api/v1/assignments/``) does only
what any durable state change must: the token's SELECT, one version-bumping ``UPDATE`` of a row of
``floor_cases`` (404 when there is none), one ``INSERT`` of an event row, commit. Same FastAPI,
uvicorn, psycopg, pool and PostgreSQL server as the real API; ``bench.intake`` and
``bench.transitions`` load the floor and the API with the same generator in the same run, for
the ratio.

    uvicorn bench.intake_floor:app --workers 1        # DATABASE_URL names the database
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Form, Header, HTTPException
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from bench.world import floor_cases, floor_events
from engine.auth import ApiToken, token_hash
from engine.db import make_engine

FLOOR = Table(
    "intake_floor",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("area_id", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

app = FastAPI()
_engine = make_engine(os.environ.get("DATABASE_URL", "postgresql+psycopg:///postgres"))


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/cases", status_code=201)
def raise_(body: dict[str, Any], authorization: Annotated[str, Header()] = "") -> dict[str, Any]:
    with _engine.begin() as conn:
        account = _account(conn, authorization)
        new_id = conn.scalar(
            insert(FLOOR)
            .values(
                account_id=account,
                title=str(body["title"]),
                description=str(body.get("description", "")),
                area_id=int(body["area_id"]),
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
            .returning(FLOOR.c.id)
        )
    return {"id": new_id}


@app.post("/open311/v2/requests.json")
def open311_raise(
    api_key: Annotated[str, Form()],
    service_code: Annotated[str, Form()],
    address_id: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
) -> list[dict[str, str]]:
    with _engine.begin() as conn:
        account = _account(conn, api_key)
        new_id = conn.scalar(
            insert(FLOOR)
            .values(
                account_id=account, title=f"{service_code} {address_id}"[:200],
                description=description, area_id=0,
                created_at=datetime.now(UTC).replace(tzinfo=None),
            )
            .returning(FLOOR.c.id)
        )  # fmt: skip
    return [{"service_request_id": str(new_id), "service_notice": "received"}]


def _account(conn: Connection, authorization: str) -> int:
    """The bearer token's account, as the API finds it (401 when there is none)."""
    token = authorization.removeprefix("Bearer ")
    account = conn.scalar(
        select(ApiToken.account_id).where(ApiToken.token_hash == token_hash(token))
    )
    if account is None:
        raise HTTPException(401)
    return int(account)


@app.post("/api/v1/cases/{row_id}/transitions")
@app.post("/api/v1/assignments/{row_id}/transitions")
def transition(
    row_id: int, body: dict[str, Any], authorization: Annotated[str, Header()] = ""
) -> dict[str, Any]:
    with _engine.begin() as conn:
        account = _account(conn, authorization)
        version = conn.scalar(
            update(floor_cases)
            .where(floor_cases.c.id == row_id)
            .values(status=str(body["trigger"]), version=floor_cases.c.version + 1)
            .returning(floor_cases.c.version)
        )
        if version is None:
            raise HTTPException(404)
        conn.execute(
            insert(floor_events).values(
                case_id=row_id, seq=version, at=datetime.now(UTC),
                payload={**body, "by": account},
            )
        )  # fmt: skip
    return {"id": row_id, "version": version}
