"""The HTTP floor of intake: a bare FastAPI route on the same stack as ``whistle api``.

``POST /api/v1/cases`` here does only what any intake must: read the bearer token's account (one
SELECT on the same ``api_tokens`` table, by the same hash), insert one row, commit. Same FastAPI,
uvicorn, psycopg, pool and PostgreSQL server as the real API; ``bench.intake`` loads both with the
same generator in the same run, for the ratio.

    uvicorn bench.intake_floor:app --workers 1        # DATABASE_URL names the database
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, insert, select

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
    token = authorization.removeprefix("Bearer ")
    with _engine.begin() as conn:
        account = conn.scalar(
            select(ApiToken.account_id).where(ApiToken.token_hash == token_hash(token))
        )
        if account is None:
            raise HTTPException(401)
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
