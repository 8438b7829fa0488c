"""Evidence attachments: photos and documents on a case, stored by content under a given directory.

Only people who may see a case may attach to it or read its files, and assessors only read. A
file must be one of the allowed types by its declared type *and* by its first bytes. Files are
named by their SHA-256, so the same photo attached twice is stored once; the row is written in
the same use case, and a file written for a failed use case is removed again.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.access import Actor, can_see_case
from engine.assignment.models import Assignment
from engine.case.models import Case
from engine.db import Base, UTCDateTime
from engine.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    OutOfScope,
    TooLarge,
    UnsupportedType,
)
from engine.uow import committed
from engine.vocabulary import Role

# The first bytes of each allowed type.
SIGNATURES: dict[str, tuple[bytes, str]] = {
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
    "application/pdf": (b"%PDF-", ".pdf"),
}
_WRITERS = (Role.ADMIN, Role.COMMAND_CENTRE, Role.DEPARTMENT, Role.UNIT, Role.GRID, Role.RESIDENT)


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("case_id", "sha256"),
        Index("ix_evidence_case", "case_id"),
    )

    @property
    def ref(self) -> str:
        """How a result names this file (``complete``'s ``evidence`` list)."""
        return f"evidence:{self.id}"


@dataclass(frozen=True)
class EvidencePolicy:
    """Where files go and what is accepted (from the settings)."""

    store: Path
    max_bytes: int
    allowed_types: Collection[str] = tuple(SIGNATURES)


def path_of(policy: EvidencePolicy, evidence: Evidence) -> Path:
    """Where the file of an evidence row is stored."""
    return policy.store / f"{evidence.sha256}{SIGNATURES[evidence.content_type][1]}"


def _visible_case(session: Session, actor: Actor, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} not found")
    assignments = list(session.scalars(select(Assignment).where(Assignment.case_id == case_id)))
    if not can_see_case(actor, case, assignments):
        raise OutOfScope(f"case {case_id} not found")
    return case


def _check_file(policy: EvidencePolicy, content_type: str, data: bytes) -> None:
    kind = content_type.split(";")[0].strip().lower()
    if kind not in policy.allowed_types or kind not in SIGNATURES:
        raise UnsupportedType(
            f"evidence: content type '{kind}' is not one of {sorted(policy.allowed_types)}"
        )
    if len(data) > policy.max_bytes:
        raise TooLarge(f"evidence: {len(data)} bytes is over the cap of {policy.max_bytes}")
    if not data:
        raise InvalidInput("evidence: the file is empty")
    if not data.startswith(SIGNATURES[kind][0]):
        raise InvalidInput(f"evidence: the file's content is not {kind}")
    # The whole file, not only its first bytes: a PNG signature followed by HTML is no PNG.
    problem = _STRUCTURE[kind](data)
    if problem is None and _HTML.search(data[:_SNIFF_BYTES]):
        problem = "it carries HTML, which a browser might run"
    if problem is not None:
        raise InvalidInput(f"evidence: the file is not a well-formed {kind}: {problem}")


# What browsers read when they guess a type: HTML markers there are refused in any file.
_SNIFF_BYTES = 1024
_HTML = re.compile(rb"<\s*(?:html|script|body|head|iframe|svg|!doctype)", re.IGNORECASE)


def _png_problem(data: bytes) -> str | None:
    """Chunks from the signature to IEND, each with a correct CRC, and nothing after."""
    at, first = 8, True
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        end = at + 12 + length
        if end > len(data):
            return "a chunk runs past the end of the file"
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            return f"the CRC of chunk {kind!r} is wrong"
        if first and kind != b"IHDR":
            return "it does not start with an IHDR chunk"
        first = False
        if kind == b"IEND":
            return None if end == len(data) else "there are bytes after IEND"
        at = end
    return "it has no IEND chunk"


def _jpeg_problem(data: bytes) -> str | None:
    """Marker segments from SOI to the start of scan, and EOI as the last two bytes."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return "a segment does not start with a marker"
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2 or at + 2 + length > len(data):
            return "a segment runs past the end of the file"
        if marker == 0xDA:  # start of scan: entropy-coded data up to EOI
            break
        at += 2 + length
    else:
        return "it has no image data"
    return None if data.endswith(b"\xff\xd9") else "it does not end with EOI"


def _pdf_problem(data: bytes) -> str | None:
    """A version header, a cross-reference pointer and %%EOF at the end."""
    if re.match(rb"%PDF-[12]\.[0-9]\s", data) is None:
        return "its header is not '%PDF-1.x'"
    tail = data[-2048:]
    if b"startxref" not in tail or not tail.rstrip().endswith(b"%%EOF"):
        return "it does not end with startxref and %%EOF"
    return None


_STRUCTURE: dict[str, Callable[[bytes], str | None]] = {
    "image/png": _png_problem,
    "image/jpeg": _jpeg_problem,
    "application/pdf": _pdf_problem,
}


def check_evidence_refs(session: Session, *, case_id: int, refs: Sequence[str]) -> None:
    """``InvalidInput`` unless every ``evidence:<id>`` ref names a file of this case."""
    ids: dict[str, int] = {}
    for ref in refs:
        prefix, _, number = ref.partition(":")
        if prefix == "evidence":
            if not (number.isascii() and number.isdigit() and len(number) <= 12):
                raise InvalidInput(f"evidence: '{ref}' is not 'evidence:<id>'")
            ids[ref] = int(number)
    if not ids:
        return
    found = set(
        session.scalars(
            select(Evidence.id).where(Evidence.case_id == case_id, Evidence.id.in_(ids.values()))
        )
    )
    missing = [ref for ref, number in ids.items() if number not in found]
    if missing:
        raise InvalidInput(f"evidence: {', '.join(missing)} is no file of case {case_id}")


def _clean_name(filename: str) -> str:
    name = os.path.basename(filename.replace("\\", "/")).strip()
    return "".join(c for c in name if c.isprintable())[:200] or "file"


def attach_evidence(
    *,
    session: Session,
    actor: Actor,
    policy: EvidencePolicy,
    case_id: int,
    filename: str,
    content_type: str,
    data: bytes,
    now: datetime,
) -> Evidence:
    """Store a file on a case; attaching the same content again returns the first row."""
    case = _visible_case(session, actor, case_id)
    if actor.role not in _WRITERS:
        raise Forbidden(f"role '{actor.role}' may not attach evidence to case {case.id}")
    _check_file(policy, content_type, data)
    kind = content_type.split(";")[0].strip().lower()
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(
        select(Evidence).where(Evidence.case_id == case.id, Evidence.sha256 == digest)
    )
    if existing is not None:
        return existing
    row = Evidence(
        case_id=case.id,
        uploaded_by_id=actor.account_id,
        filename=_clean_name(filename),
        content_type=kind,
        size=len(data),
        sha256=digest,
        created_at=now,
    )
    target = path_of(policy, row)
    written = _write_once(target, data)
    try:
        with committed(session):
            session.add(row)
    except BaseException:
        if written:
            target.unlink(missing_ok=True)
        raise
    return row


def _write_once(target: Path, data: bytes) -> bool:
    """Write the file atomically unless it is already there; says whether it wrote."""
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def evidence_of(*, session: Session, actor: Actor, case_id: int) -> list[Evidence]:
    """The case's evidence, oldest first, for those who may see the case."""
    _visible_case(session, actor, case_id)
    stmt = select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.id)
    return list(session.scalars(stmt))


def get_evidence(*, session: Session, actor: Actor, case_id: int, evidence_id: int) -> Evidence:
    """One evidence row of a case the actor may see."""
    _visible_case(session, actor, case_id)
    row = session.get(Evidence, evidence_id)
    if row is None or row.case_id != case_id:
        raise NotFound(f"evidence {evidence_id} of case {case_id} not found")
    return row
