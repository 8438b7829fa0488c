"""The workflows page: every loaded workflow drawn as two state diagrams (case and assignment),
drawn on the server as SVG, so the page needs no script and no network."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from api.console.deps import VisitorDep
from api.console.diagram import workflow_svgs
from api.console.i18n import register
from api.console.web import lang_of, render
from api.deps import RuntimeDep

router = APIRouter(prefix="/console", include_in_schema=False)

register(
    {
        "workflows.title": ("流程图", "Workflows"),
        "workflows.intro": (
            "每个流程的工单状态机与任务状态机；流程定义见 workflows/ 目录。",
            "Each workflow's case machine and assignment machine, as defined in workflows/.",
        ),
        "workflows.clocks": ("时限", "Clocks"),
        "workflows.limit": ("时限", "Limit"),
        "workflows.ladder": ("督办阶梯", "Escalation ladder"),
    }
)


@router.get("/workflows", response_class=HTMLResponse)
def workflows_page(request: Request, visitor: VisitorDep, rt: RuntimeDep) -> HTMLResponse:
    """Every workflow with its diagrams and clocks."""
    lang = "en" if lang_of(request) == "en" else "zh"
    drawn = [
        (wf, [(heading, Markup(svg)) for heading, svg in workflow_svgs(wf, lang=lang)])
        for wf in rt.workflows
    ]
    return render(request, visitor, "workflows.html", drawn=drawn)
