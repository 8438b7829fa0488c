"""Rendering console pages: the Jinja2 environment, the page context, time and label formatting.

A page is ``render(request, page, "template.html", ...)``: the context always carries the visitor
(or None), the language, the translate function ``t``, the CSRF token for forms, the navigation
of the visitor's role and the labels of states, triggers and clocks from the workflow files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from api.console.i18n import pick_lang, translate
from engine.duration import in_words
from engine.login import Visitor
from engine.privacy import case_text
from engine.runtime import Runtime
from engine.vocabulary import Role

HERE = Path(__file__).parent
LANG_COOKIE = "whistle_lang"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


@dataclass(frozen=True)
class NavItem:
    key: str  # the i18n key of its label
    href: str


_NAV = {
    "board": NavItem("nav.board", "/console/cases"),
    "intake": NavItem("nav.intake", "/console/cases/new"),
    "overdue": NavItem("nav.overdue", "/console/overdue"),
    "approvals": NavItem("nav.approvals", "/console/approvals"),
    "tasks": NavItem("nav.tasks", "/console/tasks"),
    "notifications": NavItem("nav.notifications", "/console/notifications"),
    "evaluation": NavItem("nav.evaluation", "/console/evaluation"),
    "statistics": NavItem("nav.statistics", "/console/statistics"),
    "hotspots": NavItem("nav.hotspots", "/console/hotspots"),
    "workflows": NavItem("nav.workflows", "/console/workflows"),
}
_ROLE_NAV = {
    Role.COMMAND_CENTRE: [
        "board",
        "approvals",
        "intake",
        "overdue",
        "notifications",
        "hotspots",
        "statistics",
        "evaluation",
        "workflows",
    ],
    Role.ADMIN: [
        "board",
        "approvals",
        "intake",
        "overdue",
        "hotspots",
        "statistics",
        "evaluation",
        "workflows",
    ],
    Role.DEPARTMENT: ["tasks", "board", "notifications", "workflows"],
    Role.UNIT: ["tasks", "board", "notifications", "workflows"],
    Role.GRID: ["board", "intake", "workflows"],
    Role.ASSESSOR: ["evaluation", "statistics", "board", "workflows"],
    Role.RESIDENT: ["board", "workflows"],
}


def nav_for(role: Role) -> list[NavItem]:
    """The pages a role's menu offers, in order."""
    return [_NAV[name] for name in _ROLE_NAV.get(role, ["workflows"])]


def home_for(role: Role) -> str:
    """Where a role lands after logging in: its first menu item."""
    return nav_for(role)[0].href


def lang_of(request: Request) -> str:
    """The visitor's language, from the language cookie (zh-CN when unset)."""
    return pick_lang(request.cookies.get(LANG_COOKIE))


class Labels:
    """Names of states, triggers and clocks in one language, from the loaded workflows.

    Workflows may name the same clock or state differently (a community whistle's dispatch
    clock is "claim or dispatch by"), so a label is looked up in the case's own workflow when
    it is given, else in the hotline's, else in any workflow that has it.
    """

    def __init__(self, rt: Runtime, lang: str) -> None:
        self.lang = lang
        self._by_workflow: dict[str, dict[tuple[str, str], str]] = {}
        self._any: dict[tuple[str, str], str] = {}
        ordered = sorted(rt.workflows, key=lambda wf: wf.spec.name != "hotline")
        for wf in ordered:
            spec = wf.spec
            names: dict[tuple[str, str], str] = {("workflow", spec.name): self._pick(spec.labels)}
            for kind, machine in (("case", spec.case), ("assignment", spec.assignment)):
                for name, labels in machine.states.items():
                    names[(f"{kind}_state", name)] = self._pick(labels)
                for name, trigger in machine.triggers.items():
                    names[("trigger", name)] = self._pick(trigger.labels)
            for name, clock in spec.clocks.items():
                names[("clock", name)] = self._pick(clock.labels)
            self._by_workflow[spec.name] = names
            for key, text in names.items():
                self._any.setdefault(key, text)

    def _pick(self, labels: Any) -> str:
        return str(labels.en if self.lang == "en" else labels.zh)

    def __call__(self, kind: str, name: object, workflow: str | None = None) -> str:
        """The label of ``name`` (a state, trigger, clock or workflow), or the name itself."""
        key = (("trigger" if kind in ("step", "ladder") else kind), str(name))
        own = self._by_workflow.get(workflow or "", {})
        return own.get(key) or self._any.get(key) or key[1]


class Clock:
    """Times shown in the city's timezone, and spans until or since a due time."""

    def __init__(self, zone: ZoneInfo, lang: str, now: datetime) -> None:
        self.zone, self.lang, self.now = zone, lang, now

    def local(self, when: datetime | None) -> str:
        """``2026-11-22 14:05`` in the city's zone; empty for None."""
        if when is None:
            return ""
        return when.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def iso(self, when: datetime | None) -> str:
        return "" if when is None else when.isoformat()

    def span(self, delta: timedelta) -> str:
        """A span in the largest two units (``2 d 3 h``, ``45 min``)."""
        minutes = int(abs(delta.total_seconds()) // 60)
        days, rest = divmod(minutes, 24 * 60)
        hours, mins = divmod(rest, 60)
        parts = []
        if days:
            parts.append(translate("time.days", self.lang, n=days))
        if hours and len(parts) < 2:
            parts.append(translate("time.hours", self.lang, n=hours))
        if not days and (mins or not parts):
            parts.append(translate("time.minutes", self.lang, n=mins))
        return " ".join(parts)

    def countdown(self, due: datetime) -> str:
        """``3 h left`` or ``overdue by 2 d 4 h`` at the page's ``now``."""
        delta = due - self.now
        key = "time.left" if delta.total_seconds() >= 0 else "time.overdue_by"
        return translate(key, self.lang, span=self.span(delta))

    def duration(self, code: object) -> str:
        """A duration code ("7wd") in words: "7个工作日" / "7 working days"."""
        return in_words(code, self.lang)

    def late(self, due: datetime) -> bool:
        return due < self.now

    def due(self, due: datetime) -> Markup:
        """The countdown to ``due`` as the element ``console.js`` keeps up to date."""
        late = ' class="late"' if self.late(due) else ""
        return Markup('<span data-due="{}"{}>{}</span>').format(
            self.iso(due), Markup(late), self.countdown(due)
        )


def render(
    request: Request,
    visitor: Visitor | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page: the template with the common context (language, labels, navigation, CSRF)."""
    lang = lang_of(request)
    state = request.app.state
    now = state.clock.now()

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    common = {
        "request": request,
        "visitor": visitor,
        "lang": lang,
        "t": t,
        "label": Labels(state.runtime, lang),
        "clock": Clock(state.runtime.calendar.zone, lang, now),
        "now": now,
        "clock_speed": getattr(state.clock, "speed", 1),
        "csrf": visitor.csrf_token if visitor is not None else context.pop("csrf", ""),
        "nav": nav_for(visitor.actor.role) if visitor is not None else [],
        "path": request.url.path,
        # A case's free text as the visitor may read it (an assessor's is redacted).
        "seen": (lambda text: case_text(visitor.actor, text)) if visitor is not None else str,
    }
    response = templates.TemplateResponse(
        request, template, {**common, **context}, status_code=status_code
    )
    return response
