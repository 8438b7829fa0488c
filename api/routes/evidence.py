"""Evidence attachments of a case: upload (size cap, type allow-list), list, download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from fastapi.responses import FileResponse

from api.deps import ActorDep, ClockDep, IdPath, SessionDep, SettingsDep
from api.problems import documented
from api.schemas import EvidenceOut
from api.settings import ApiSettings
from engine.case.evidence import (
    EvidencePolicy,
    attach_evidence,
    evidence_of,
    get_evidence,
    path_of,
)

router = APIRouter(prefix="/api/v1/cases/{case_id}/evidence", tags=["evidence"])


def policy(settings: ApiSettings) -> EvidencePolicy:
    """Where evidence is stored and what is accepted, from the settings."""
    return EvidencePolicy(
        store=settings.data_dir / "evidence",
        max_bytes=settings.evidence_max_bytes,
        allowed_types=tuple(settings.evidence_types),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=documented(401, 403, 404, 413, 422),
    summary="Attach a file to a case",
)
def upload(
    case_id: IdPath,
    file: Annotated[UploadFile, File(description="a JPEG, PNG or PDF")],
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> EvidenceOut:
    """Store a photo or document on the case; the same file again returns the first record."""
    rules = policy(settings)
    data = file.file.read(rules.max_bytes + 1)
    row = attach_evidence(
        session=session, actor=actor, policy=rules, case_id=case_id,
        filename=file.filename or "file", content_type=file.content_type or "", data=data,
        now=clock.now(),
    )  # fmt: skip
    return EvidenceOut.model_validate(row)


@router.get("", responses=documented(401, 404), summary="The case's evidence")
def list_(case_id: IdPath, session: SessionDep, actor: ActorDep) -> list[EvidenceOut]:
    """The files attached to the case, oldest first."""
    return [
        EvidenceOut.model_validate(e)
        for e in evidence_of(session=session, actor=actor, case_id=case_id)
    ]


@router.get(
    "/{evidence_id}",
    response_class=FileResponse,
    responses={
        200: {
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("image/jpeg", "image/png", "application/pdf")
            }
        },
        **documented(401, 404),
    },
    summary="Download one file",
)
def download(
    case_id: IdPath,
    evidence_id: IdPath,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
) -> FileResponse:
    """The file itself, for those who may see the case."""
    row = get_evidence(session=session, actor=actor, case_id=case_id, evidence_id=evidence_id)
    # Served as what it was checked to be, never sniffed, and never run: images inline, a PDF
    # (which may carry script for a viewer) as a download.
    inline = row.content_type.startswith("image/")
    return FileResponse(
        path_of(policy(settings), row),
        media_type=row.content_type,
        filename=row.filename,
        content_disposition_type="inline" if inline else "attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
