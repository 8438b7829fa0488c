"""Smart intake in the console: the suggestions panel of the intake form (fetched, and without
JavaScript), "raise and merge into #N", the dispatch dialog's ranking, similar and repeat cases
on the case page, and the hotspots page with its export and promotion — through the real app,
database and login, each bad input shown clearly with nothing changed."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.case.models import Case
from engine.case.service import CaseDraft, raise_case
from engine.insight.models import CaseLink
from engine.insight.scorer import CONFIDENT
from engine.insight.service import train
from engine.organisation.models import Category
from engine.vocabulary import CaseState
from tests.fixtures_api import row_counts
from tests.fixtures_console import Console
from tests.test_insight_faces import _history, _hot_cases

PANEL = "/console/cases/new/suggestions"


def form_of(console: Console, who: str, **fields: str) -> dict[str, str]:
    """The intake form of ``who`` filled in, with the form's own CSRF token and key."""
    page = console.as_(who).get("/console/cases/new").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert key
    assert token
    return {"csrf_token": token[1], "idempotency_key": key[1], "workflow": "hotline"} | fields


def scores(html: str) -> list[int]:
    """The category scores of a panel, in percent, in order."""
    block = html.split('id="suggested-categories"')[1].split("</ol>")[0]
    return [int(n) for n in re.findall(r'<span class="muted">(\d+)%</span>', block)]


@pytest.fixture
def trained(session, rt, city, clock):  # type: ignore[no-untyped-def]
    _history(session, rt, city, clock)
    return train(session=session, now=clock.now())


# -- the intake form -----------------------------------------------------------------------------


def test_intake_form__has_the_panel_the_filter_and_a_suggest_button(console: Console) -> None:
    page = console.as_("cc_s1").get("/console/cases/new").text
    assert 'id="suggestions"' in page
    assert 'data-suggest-url="/console/cases/new/suggestions"' in page
    assert 'data-filter-for="category_id"' in page  # shown by console.js
    assert 'formaction="/console/cases/new/suggest"' in page  # for a browser without JS
    assert f"{round(CONFIDENT * 100)}%" in page  # the threshold is named to the operator


def test_panel__four_lists_as_the_operator_types(console: Console, session, rt, city, clock,
                                                 trained) -> None:  # fmt: skip
    first = raise_case(
        session=session, rt=rt, actor=city.actor(session, "cc_s1"),
        draft=CaseDraft(title="东华门大街3号路灯坏了不亮", area_id=city.grids[0].id,
                        reporter_phone="13800138000"),
        now=clock.now(),
    )  # fmt: skip
    data = form_of(console, "cc_s1", title="东华门大街3号路灯坏了不亮",
                   description="路边有电线裸露可能触电", area_id=str(city.grids[0].id),
                   reporter_phone="138 0013 8000")  # fmt: skip
    answer = console.as_("cc_s1").post(PANEL, data=data)
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "<html" not in html  # the panel alone
    assert html.index("路灯") < html.index('id="suggested-departments"')
    assert "城管委" in html
    assert "派单规则" in html
    assert 'id="suggested-priority"' in html
    assert "触电" in html
    assert f'formaction="/console/cases/new/merge" name="merge_into" value="{first.id}"' in html
    top = scores(html)[0]
    # Pre-selected exactly when the model is confident.
    assert ("data-confident=" in html) == (top >= CONFIDENT * 100)


def test_panel__english(console: Console, city, trained) -> None:
    client = console.as_("cc_s1")
    client.cookies.set("whistle_lang", "en")
    data = form_of(console, "cc_s1", title="路灯不亮", area_id=str(city.grids[0].id))
    html = client.post(PANEL, data=data).text
    assert "<h3>Categories</h3>" in html
    assert "<h3>Possible duplicates</h3>" in html


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"title": " ", "description": ""}, 422, "至少两个字"),
        ({"title": "路灯不亮", "area_id": "x"}, 422, "area_id: expected a number"),
        ({"title": "路灯不亮", "area_id": "999999"}, 422, "999999 is not an area"),
        ({"title": "x" * 10_001}, 422, "title"),
        ({"title": "路灯不亮", "reporter_phone": "call me"}, 422, "phone"),
    ],
)
def test_panel__bad_input_is_said_in_the_panel_and_changes_nothing(
    console: Console, session_factory, city, fields, status, needle
) -> None:  # type: ignore[no-untyped-def]
    data = form_of(console, "cc_s1", **fields)
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post(PANEL, data=data)
    assert answer.status_code == status
    assert needle in answer.text
    assert row_counts(session_factory) == before


def test_panel__another_streets_area_is_not_found_and_others_are_refused(
    console: Console, session_factory, city
) -> None:  # type: ignore[no-untyped-def]
    data = form_of(console, "cc_s2", title="路灯不亮", area_id=str(city.grids[0].id))
    token = console.csrf("dept_um")
    console.as_("cc_s1")
    before = row_counts(session_factory)
    assert console.as_("cc_s2").post(PANEL, data=data).status_code == 404
    answer = console.as_("dept_um").post(PANEL, data={"csrf_token": token, "title": "路灯不亮"})
    assert answer.status_code == 403
    no_token = console.as_("cc_s1").post(PANEL, data={"title": "路灯不亮"})
    assert no_token.status_code == 403
    assert console.client().post(PANEL, data={"title": "路灯不亮"}).status_code == 303  # login
    assert row_counts(session_factory) == before


def test_suggest_without_js__shows_the_form_as_typed_with_the_panel(
    console: Console, city, trained
) -> None:  # type: ignore[no-untyped-def]
    data = form_of(console, "cc_s1", title="东华门大街路灯不亮", address="东华门大街 5 号",
                   area_id=str(city.grids[0].id))  # fmt: skip
    answer = console.as_("cc_s1").post("/console/cases/new/suggest", data=data)
    assert answer.status_code == 200
    html = answer.text
    assert 'value="东华门大街路灯不亮"' in html
    assert 'value="东华门大街 5 号"' in html
    assert 'id="suggested-categories"' in html
    selected = re.search(r'<option value="(\d+)"[^>]* selected>', html.split('id="category_id"')[1])
    top = scores(html)[0]
    if top >= CONFIDENT * 100:
        assert selected is not None
        assert selected[1] == str(city.sub_category.id)
    else:
        assert selected is None  # not confident: the operator chooses


def test_suggest_without_js__too_little_text_is_said(console: Console) -> None:
    answer = console.as_("cc_s1").post("/console/cases/new/suggest", data=form_of(console, "cc_s1"))
    assert answer.status_code == 422
    assert "请输入至少两个字" in answer.text


# -- raise and merge ------------------------------------------------------------------------------


def _open_case(session, rt, city, clock, who="cc_s1", grid=0) -> Case:  # type: ignore[no-untyped-def]
    return raise_case(
        session=session, rt=rt, actor=city.actor(session, who),
        draft=CaseDraft(title="景山前街路灯不亮", area_id=city.grids[grid].id,
                        reporter_phone="13900139000"),
        now=clock.now() - timedelta(hours=1),
    )  # fmt: skip


def test_merge__raises_the_call_as_a_repeat_of_the_duplicate_once(
    console: Console, session, rt, city, clock
) -> None:  # type: ignore[no-untyped-def]
    target = _open_case(session, rt, city, clock)
    data = form_of(console, "cc_s1", title="景山前街路灯还是不亮", area_id=str(city.grids[0].id),
                   reporter_phone="13900139000", merge_into=str(target.id))  # fmt: skip
    client = console.as_("cc_s1")
    answer = client.post("/console/cases/new/merge", data=data)
    assert answer.status_code == 303, answer.text
    new_id = int(answer.headers["location"].split("/console/cases/")[1].split("?")[0])
    again = client.post("/console/cases/new/merge", data=data)  # a double click
    assert again.headers["location"] == answer.headers["location"]
    session.expire_all()
    repeat = session.get(Case, new_id)
    assert repeat is not None
    assert repeat.state == CaseState.MERGED
    assert repeat.merged_into_id == target.id
    assert session.scalar(select(func.count()).select_from(Case)) == 2
    page = client.get(f"/console/cases/{target.id}").text
    assert 'id="repeats"' in page
    assert "被重复反映 1 次" in page
    assert f'href="/console/cases/{new_id}"' in page


@pytest.mark.parametrize("into", ["", "abc", "999999", "foreign", "merged"])
def test_merge__a_wrong_target_raises_nothing(
    console: Console, session, rt, city, clock, session_factory, into
) -> None:  # type: ignore[no-untyped-def]
    foreign = _open_case(session, rt, city, clock, who="cc_s2", grid=1)
    merged = _open_case(session, rt, city, clock)
    host = _open_case(session, rt, city, clock)
    from engine.case.service import transition_case

    transition_case(session=session, rt=rt, actor=city.actor(session, "cc_s1"),
                    case_id=merged.id, trigger="merge",
                    payload={"into": host.id, "reason": "重复反映"},
                    now=clock.now())  # fmt: skip
    target = {"foreign": str(foreign.id), "merged": str(merged.id)}.get(into, into)
    data = form_of(console, "cc_s1", title="景山前街路灯还是不亮", area_id=str(city.grids[0].id),
                   merge_into=target)  # fmt: skip
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post("/console/cases/new/merge", data=data)
    assert answer.status_code == 422
    assert "要并入的工单编号无效" in answer.text
    assert row_counts(session_factory) == before


def test_merge__a_wrong_field_raises_nothing(console: Console, session, rt, city, clock,
                                             session_factory) -> None:  # fmt: skip
    target = _open_case(session, rt, city, clock)
    data = form_of(console, "cc_s1", title="x", merge_into=str(target.id))
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post("/console/cases/new/merge", data=data)
    assert answer.status_code == 422
    assert 'id="err-title"' in answer.text
    assert row_counts(session_factory) == before


# -- the case page --------------------------------------------------------------------------------


def test_case_page__dispatch_dialog_ranks_departments_with_reasons_and_lists_similar_cases(
    console: Console, session, rt, city, clock, trained
) -> None:  # type: ignore[no-untyped-def]
    older = _open_case(session, rt, city, clock)
    case = raise_case(
        session=session, rt=rt, actor=city.actor(session, "cc_s1"),
        draft=CaseDraft(title="景山前街路灯不亮了", area_id=city.grids[0].id,
                        category_id=city.sub_category.id),
        now=clock.now(),
    )  # fmt: skip
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}").text
    ranked = page.split('id="dispatch-ranked"')[1].split("</div>\n")[0]
    assert "城管委" in ranked
    assert "派单规则" in ranked
    similar = page.split('id="similar"')[1].split("</section>")[0]
    assert f'href="/console/cases/{older.id}"' in similar
    assert f'href="/console/cases/{case.id}"' not in similar  # not itself
    # A department sees no ranking and no similar cases of others.
    dept = console.as_("dept_um").get(f"/console/cases/{case.id}")
    assert 'id="dispatch-ranked"' not in dept.text
    assert 'id="similar"' not in dept.text


# -- hotspots --------------------------------------------------------------------------------


def _window(clock) -> str:  # type: ignore[no-untyped-def]
    day = (clock.now() - timedelta(days=1)).date().isoformat()
    return f"from={day}&to={day}"


def test_hotspots_page__lists_the_clusters_and_exports_them(console: Console, session, rt,
                                                            city, clock) -> None:  # fmt: skip
    cases = _hot_cases(session, rt, city, clock)
    client = console.as_("cc_s1")
    assert 'href="/console/hotspots"' in client.get("/console/cases").text  # in the menu
    page = client.get(f"/console/hotspots?{_window(clock)}&top=5")
    assert page.status_code == 200
    hot = page.text.split('id="hotspot-1"')[1]
    for c in cases[:3]:
        assert f'href="/console/cases/{c.id}"' in hot
    assert f'href="/console/cases/{cases[3].id}"' not in page.text
    assert "魅力之城小区" in hot
    assert 'class="spark"' in hot
    export = client.get(f"/console/hotspots/export.csv?{_window(clock)}")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert len(rows) == 1
    assert sorted(map(int, rows[0]["case_ids"].split())) == sorted(c.id for c in cases[:3])
    # The other street's centre sees nothing of them.
    assert (
        'id="hotspot-1"' not in console.as_("cc_s2").get(f"/console/hotspots?{_window(clock)}").text
    )


def test_hotspots_export__redacts_personal_data(console: Console, session, rt, city, clock) -> None:
    for i in range(3):
        raise_case(
            session=session, rt=rt, actor=city.actor(session, "cc_s1"),
            draft=CaseDraft(title="幸福小区电梯故障 联系 13912345678", area_id=city.grids[0].id,
                            reporter_phone=f"1390000000{i}"),
            now=clock.now() - timedelta(days=1),
        )  # fmt: skip
    client = console.as_("cc_s1")
    export = client.get(f"/console/hotspots/export.csv?{_window(clock)}").text
    page = client.get(f"/console/hotspots?{_window(clock)}").text
    assert "电梯故障" in export
    assert "电梯故障" in page
    assert "13912345678" not in export
    assert "13912345678" not in page


@pytest.mark.parametrize(
    ("query", "needle"),
    [("from=2026-02-10&to=2026-02-01", "ends before"), ("from=2020-01-01&to=2026-01-01", "366"),
     ("from=yesterday", "from: expected a date"), ("top=0", "top"), ("top=x", "top")],
)  # fmt: skip
def test_hotspots_page__a_bad_window_is_said(console: Console, query, needle) -> None:  # type: ignore[no-untyped-def]
    page = console.as_("cc_s1").get(f"/console/hotspots?{query}")
    assert page.status_code == 422
    assert needle in page.text
    export = console.as_("cc_s1").get(f"/console/hotspots/export.csv?{query}")
    assert export.status_code == 422


def test_hotspots_page__residents_and_units_are_refused(console: Console) -> None:
    assert console.as_("resident").get("/console/hotspots").status_code == 403
    assert console.as_("unit").get("/console/hotspots/export.csv").status_code == 403


def test_promote__raises_a_whistle_linked_to_the_members(console: Console, session, rt, city,
                                                        clock) -> None:  # fmt: skip
    cases = _hot_cases(session, rt, city, clock)
    client = console.as_("cc_s1")
    page = client.get(f"/console/hotspots?{_window(clock)}").text
    assert "转为治理事项" in page
    data = {"csrf_token": console.csrf("cc_s1"), "title": "每月一题：魅力之城小区油烟",
            "area_id": str(city.streets[0].id), "workflow": "street_whistle",
            "case_ids": [str(c.id) for c in cases[:3]]}  # fmt: skip
    answer = client.post(f"/console/hotspots/promote?{_window(clock)}", data=data)
    assert answer.status_code == 303, answer.text
    item = int(answer.headers["location"].split("/console/cases/")[1].split("?")[0])
    links = session.scalars(select(CaseLink.linked_case_id).where(CaseLink.case_id == item))
    assert sorted(links) == sorted(c.id for c in cases[:3])
    shown = client.get(f"/console/cases/{item}").text
    assert 'id="linked"' in shown
    assert "由热点的 3 件工单提出" in shown


@pytest.mark.parametrize(
    ("change", "needle"),
    [({"title": ""}, "title"), ({"case_ids": []}, "case_ids"), ({"case_ids": ["x"]}, "case_ids"),
     ({"case_ids": ["999999"]}, "no such case"), ({"workflow": "hotline"}, "workflow"),
     ({"area_id": "abc"}, "area_id")],
)  # fmt: skip
def test_promote__bad_input_is_said_and_changes_nothing(
    console: Console, session, rt, city, clock, session_factory, change, needle
) -> None:  # type: ignore[no-untyped-def]
    cases = _hot_cases(session, rt, city, clock)
    data = {"csrf_token": console.csrf("cc_s1"), "title": "每月一题",
            "workflow": "street_whistle", "area_id": str(city.streets[0].id),
            "case_ids": [str(cases[0].id)]} | change  # fmt: skip
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post("/console/hotspots/promote", data=data)
    assert answer.status_code == 422
    assert needle in answer.text
    assert row_counts(session_factory) == before


def test_promote__only_a_command_centre_or_admin_promotes(
    console: Console, session, rt, city, clock, session_factory
) -> None:  # type: ignore[no-untyped-def]
    cases = _hot_cases(session, rt, city, clock)
    data = {"csrf_token": console.csrf("dept_um"), "title": "每月一题",
            "area_id": str(city.streets[0].id), "case_ids": [str(cases[0].id)]}  # fmt: skip
    console.as_("cc_s1")
    before = row_counts(session_factory)
    assert console.as_("dept_um").post("/console/hotspots/promote", data=data).status_code == 403
    data["csrf_token"] = "wrong"
    assert console.as_("cc_s1").post("/console/hotspots/promote", data=data).status_code == 403
    assert row_counts(session_factory) == before


def test_case_page__without_any_category_still_shows_the_case(
    console: Console, session, rt, city, clock
) -> None:  # type: ignore[no-untyped-def]
    case = _open_case(session, rt, city, clock)
    for category in session.scalars(select(Category)):
        category.active = False
    session.commit()
    page = console.as_("cc_s1").get(f"/console/cases/{case.id}")
    assert page.status_code == 200
    assert 'id="similar"' not in page.text
    panel = console.as_("cc_s1").post(PANEL, data=form_of(console, "cc_s1", title="路灯不亮"))
    assert panel.status_code == 422
    assert "create categories first" in panel.text


def test_panel__a_ten_megabyte_form_is_refused(console: Console, session_factory) -> None:  # type: ignore[no-untyped-def]
    data = form_of(console, "cc_s1", title="路灯不亮")
    before = row_counts(session_factory)
    answer = console.as_("cc_s1").post(PANEL, data=data | {"description": "x" * (10 << 20)})
    assert answer.status_code == 413
    assert row_counts(session_factory) == before
