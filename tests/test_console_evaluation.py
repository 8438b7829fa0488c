"""The assessor's console pages: the ranking with its lists and charts, the drill-down to the
cases, the CSV of the ranking, and report exports built by a real RQ worker with their progress."""

from __future__ import annotations

import codecs
import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import openpyxl
import pytest
import redis
from rq import Queue
from sqlalchemy.orm import Session

from engine.clock import ManualClock
from engine.config import get_settings
from engine.rollup.scheme import get_scheme
from engine.runtime import Runtime
from engine.vocabulary import Rating, Trigger
from tests.builders import City
from tests.evaluation_support import dispatch, fire, raise_at, run_reports, work_through
from tests.fixtures_console import Console
from workers.reports import REPORTS


@pytest.fixture(autouse=True)
def _lists_from_one_case(monkeypatch):
    """These small cities have a case or two per unit: list units from one case on."""
    monkeypatch.setenv("WHISTLE_EVAL_MIN_VOLUME", "1")
    get_scheme.cache_clear()
    yield
    get_scheme.cache_clear()


MARCH = {"from": "2026-03", "to": "2026-03"}
UNIT_ROW = re.compile(r'<tr data-unit="(\d+)"')
SVG = re.compile(r"<svg .*?</svg>", re.S)


@dataclass
class Rated:
    """Two cases dispatched and rated in March 2026: 城管委 did well, 水务局 did not."""

    good: int
    bad: int
    um: int
    water: int


@pytest.fixture
def rated(
    console: Console, session: Session, rt: Runtime, city: City, clock: ManualClock, db_url: str,
    tmp_path, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Rated]:  # fmt: skip
    """The two cases; report jobs read this test's database and data directory."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    um, water = city.departments[0].id, city.departments[1].id
    good = raise_at(session, rt, city, clock)
    (lead,) = dispatch(session, rt, city, clock, good.id, lead=um)
    work_through(session, rt, city, clock, lead, "dept_um")
    fire(session, rt, city, clock, good.id, Trigger.RATE, "resident",
         {"solved": True, "rating": Rating.SATISFIED})  # fmt: skip
    bad = raise_at(session, rt, city, clock, street=1)
    (lead,) = dispatch(session, rt, city, clock, bad.id, lead=water, who="cc_s2")
    work_through(session, rt, city, clock, lead, "dept_water")
    fire(session, rt, city, clock, bad.id, Trigger.RATE, "resident",
         {"solved": False, "rating": Rating.DISSATISFIED})  # fmt: skip
    yield Rated(good.id, bad.id, um, water)
    get_settings.cache_clear()


def units(html: str) -> list[int]:
    return [int(u) for u in UNIT_ROW.findall(html)]


def charts(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in SVG.findall(html)]


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


# ---- the evaluation page -----------------------------------------------------------------------


def test_evaluation__shows_this_years_ranking_with_figures_linking_to_the_drill_down(
    console: Console, rated: Rated
) -> None:
    page = console.as_("assessor").get("/console/evaluation")

    assert page.status_code == 200
    assert 'type="month" required value="2026-01"' in page.text
    assert 'type="month" required value="2026-03"' in page.text
    assert units(page.text)[:2] == [rated.um, rated.water]
    first = page.text[page.text.index(f'<tr data-unit="{rated.um}"') :]
    first = first[: first.index("</tr>")]
    assert '<td class="num" data-label="排名">1</td>' in first
    assert first.count(">100.0%</a>") == 4  # the three rates and the on-time rate
    assert ">100.0</td>" in first  # the composite, which has no drill-down of its own
    drill = (f"/console/evaluation/drill?level=department&amp;from=2026-01&amp;to=2026-03"
             f"&amp;unit_id={rated.um}&amp;figure=response_rate")  # fmt: skip
    assert f'href="{drill}"' in first


def test_evaluation__lists_the_best_on_the_red_list_and_shows_none_when_the_black_is_empty(
    console: Console, rated: Rated
) -> None:
    page = console.as_("assessor").get("/console/evaluation", params={"level": "department"})

    red, black = section(page.text, "eval-red_list-h"), section(page.text, "eval-black_list-h")
    assert re.findall(r'<li data-unit="(\d+)"', red) == [str(rated.um), str(rated.water)]
    assert "暂无" in black


def test_evaluation__draws_the_trend_of_the_first_ranked_unit_and_a_table_of_it(
    console: Console, rated: Rated
) -> None:
    page = console.as_("assessor").get("/console/evaluation")

    trend, dist = charts(page.text)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert trend.get("role") == dist.get("role") == "img"
    assert trend.find("s:title", ns).text == "城管委三率月度趋势"
    legend = [t.text for t in trend.findall(".//s:g[@class='legend']/s:text", ns)]
    assert legend == ["响应率", "解决率", "满意率"]
    assert [c.get("data-value") for c in trend.iter("{http://www.w3.org/2000/svg}circle")] == [
        "1.0", "1.0", "1.0",
    ]  # fmt: skip
    table = section(page.text, "eval-trend-h")
    assert '<th scope="row">2026-01</th><td class="num">—</td>' in table
    assert '<th scope="row">2026-03</th><td class="num">100.0%</td>' in table


def test_evaluation__the_trend_follows_the_chosen_unit_and_an_unknown_one_falls_back(
    console: Console, rated: Rated
) -> None:
    client = console.as_("assessor")

    chosen = client.get("/console/evaluation", params={"unit": rated.water})
    unknown = client.get("/console/evaluation", params={"unit": "nope"})

    assert "<figcaption>水务局三率月度趋势</figcaption>" in chosen.text
    assert f'<option value="{rated.water}" selected>' in chosen.text
    assert "<figcaption>城管委三率月度趋势</figcaption>" in unknown.text


def test_evaluation__the_distribution_shows_the_chosen_figure_across_units(
    console: Console, rated: Rated
) -> None:
    page = console.as_("assessor").get(
        "/console/evaluation", params={"dist": "satisfaction_rate", **MARCH}
    )

    _, dist = charts(page.text)
    bars = [r.get("data-value") for r in dist.iter("{http://www.w3.org/2000/svg}rect")]
    assert bars[:2] == ["1.0", "0.0"]
    assert dist.find("{http://www.w3.org/2000/svg}title").text == "各职能部门满意率分布"


def test_evaluation__a_street_command_centre_sees_only_its_own_street(
    console: Console, rated: Rated, city: City
) -> None:
    page = console.as_("cc_s1").get("/console/evaluation", params={"level": "street"})
    district = console.as_("cc_district").get("/console/evaluation", params={"level": "street"})

    assert units(page.text) == [city.streets[0].id]
    assert sorted(units(district.text)) == sorted(s.id for s in city.streets)


def test_evaluation__speaks_english_after_the_switch(console: Console, rated: Rated) -> None:
    client = console.as_("assessor")
    client.cookies.set("whistle_lang", "en", path="/console")

    page = client.get("/console/evaluation")

    assert "Response rate" in page.text
    assert "Red list" in page.text
    assert "Urban management" in page.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-03", "to": "2026-01"}, "截止月份 2026-01 早于起始月份 2026-03"),
        ({"from": "2026-13", "to": "2026-03"}, "月份“2026-13”无效"),
        ({"from": "March", "to": "2026-03"}, "月份“March”无效"),
        ({"from": "2030-01", "to": "2030-02"}, "考核期不能从未来开始"),
        ({"from": "2026-01", "to": "2099-12"}, "考核期不能从未来开始"),
        ({"from": "1990-01", "to": "2026-03"}, "考核期最长 120 个月"),
        ({"level": "galaxy"}, "未知的考核对象“galaxy”"),
    ],
)
def test_evaluation__a_bad_period_or_level_is_a_clear_422_keeping_the_input(
    console: Console, rated: Rated, params: dict[str, str], message: str
) -> None:
    page = console.as_("assessor").get("/console/evaluation", params=params)

    assert page.status_code == 422
    assert message in page.text
    assert 'role="alert"' in page.text
    assert units(page.text) == []
    if "from" in params:
        assert f'value="{params["from"]}"' in page.text


@pytest.mark.parametrize(("who", "code"), [("dept_um", 403), ("resident", 403), ("grid_c1", 403),
                                           ("admin", 200), ("cc_district", 200)])  # fmt: skip
def test_evaluation__is_for_assessors_command_centres_and_admins(
    console: Console, rated: Rated, who: str, code: int
) -> None:
    assert console.as_(who).get("/console/evaluation").status_code == code


# ---- drill-down --------------------------------------------------------------------------------


def drill(console: Console, who: str, **params: object):
    query = {"level": "department", **MARCH} | {k: str(v) for k, v in params.items()}
    return console.as_(who).get("/console/evaluation/drill", params=query)


def test_drill__lists_the_cases_behind_a_rate_with_what_each_adds(
    console: Console, rated: Rated
) -> None:
    page = drill(console, "assessor", unit_id=rated.um, figure="satisfaction_rate")

    assert page.status_code == 200
    assert "<h1>城管委：满意率</h1>" in page.text
    assert "满意率为 100.0%" in page.text
    row = page.text[page.text.index(f'<tr data-case="{rated.good}"') :]
    assert f'<a href="/console/cases/{rated.good}">#{rated.good}</a> ' in row
    assert f"#{rated.good}</a> 路灯不亮</td>" in row  # the case's title beside its number
    assert row.count('<span class="badge">满意 +1</span>') == 2  # numerator and denominator
    assert f'data-case="{rated.bad}"' not in page.text
    assert "分子合计 1（1 件），分母合计 1（1 件）" in page.text


def test_drill__a_case_outside_the_numerator_shows_in_the_denominator_only(
    console: Console, rated: Rated
) -> None:
    page = drill(console, "assessor", unit_id=rated.water, figure="resolution_rate")

    row = page.text[page.text.index(f'<tr data-case="{rated.bad}"') :]
    row = row[: row.index("</tr>")]
    assert '<span class="muted">—</span>' in row
    assert "已评判 +1" in row
    assert "分子合计 0（0 件），分母合计 1（1 件）" in page.text


def test_drill__a_unit_outside_the_scope_or_of_another_level_is_404(
    console: Console, rated: Rated, city: City
) -> None:
    foreign = drill(console, "assessor_s2", level="street", unit_id=city.streets[0].id,
                    figure="response_rate")  # fmt: skip
    wrong_level = drill(console, "assessor", level="street", unit_id=rated.um,
                        figure="response_rate")  # fmt: skip

    assert (foreign.status_code, wrong_level.status_code) == (404, 404)
    assert "未找到" in foreign.text
    assert f"/console/cases/{rated.good}" not in foreign.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"figure": "composite"}, "指标“composite”不能下钻"),
        ({"figure": "response_rate", "unit_id": "abc"}, "单位编号无效"),
        ({"figure": "response_rate", "from": "2026-04", "to": "2026-01"}, "早于起始月份"),
        ({"figure": "response_rate", "page": "0"}, "页码无效"),
    ],
)
def test_drill__bad_values_are_a_clear_422(
    console: Console, rated: Rated, params: dict[str, str], message: str
) -> None:
    page = drill(console, "assessor", **({"unit_id": rated.um} | params))

    assert page.status_code == 422
    assert message in page.text


def test_drill__is_refused_to_a_department(console: Console, rated: Rated) -> None:
    assert drill(console, "dept_um", unit_id=rated.um, figure="cases").status_code == 403


# ---- the CSV of the ranking --------------------------------------------------------------------


def test_ranking_csv__downloads_the_ranking_shown(console: Console, rated: Rated) -> None:
    answer = console.as_("assessor").get(
        "/console/evaluation.csv", params={"level": "department", **MARCH}
    )

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="evaluation-department-2026-03-2026-03.csv"'
    )
    assert answer.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["排名 Rank"], r["单位编号 Unit id"]) for r in rows[:2]] == [
        ("1", str(rated.um)), ("2", str(rated.water)),
    ]  # fmt: skip
    assert rows[0]["综合得分 Composite"] == "100.0"
    assert rows[1]["满意率 Satisfaction rate"] == "0.0"
    assert rows[2]["响应率 Response rate"] == ""  # 住建委 had no case: nothing to divide by


def test_ranking_csv__a_bad_period_is_the_page_with_its_message(
    console: Console, rated: Rated
) -> None:
    answer = console.as_("assessor").get(
        "/console/evaluation.csv", params={"from": "2026-05", "to": "2026-01"}
    )

    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "早于起始月份" in answer.text


# ---- exports built by a worker -----------------------------------------------------------------


def start(console: Console, who: str, **fields: object):
    data = {"csrf_token": console.csrf(who, "/console/evaluation"), "level": "department",
            "levels": ["department"], "format": "xlsx", **MARCH} | fields  # fmt: skip
    return console.as_(who).post("/console/evaluation/exports", data=data)


def queued(connection: redis.Redis) -> int:
    return Queue(REPORTS, connection=connection).count


def test_export__progress_page_then_the_worker_builds_the_file_and_it_downloads(
    console: Console, rated: Rated, api_redis: redis.Redis
) -> None:
    client = console.as_("assessor")

    started = start(console, "assessor", levels=["department", "street"])
    url = started.headers["location"]
    page = client.get(url)
    before = client.get(f"{url}.json").json()
    run_reports(api_redis)
    after = client.get(f"{url}.json").json()
    done_page = client.get(url)
    download = client.get(after["file"])

    assert started.status_code == 303
    assert re.fullmatch(r"/console/evaluation/exports/report-[0-9a-f]{32}", url)
    assert f'data-poll="{url}.json"' in page.text
    assert '<progress id="export-progress" class="progress" max="100" value="0">' in page.text
    assert "排队中 · 0 %" in page.text
    assert re.search(r"<a data-file [^>]*hidden>", page.text)
    assert f'<a href="{url}">刷新本页</a>' in page.text
    assert before == {"id": url.rsplit("/", 1)[1], "status": "queued", "progress": 0,
                      "ready": False, "error": None, "file": None,
                      "status_label": "排队中"}  # fmt: skip
    assert (after["status"], after["progress"], after["ready"]) == ("finished", 100, True)
    assert after["file"] == f"{url}/file"
    assert f'href="{url}/file" download>' in done_page.text
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert download.headers["content-disposition"].startswith("attachment;")
    book = openpyxl.load_workbook(io.BytesIO(download.content))
    assert {"职能部门 Departments", "街道 Streets"} <= set(book.sheetnames)


def test_export__a_csv_export_downloads_as_csv(
    console: Console, rated: Rated, api_redis: redis.Redis
) -> None:
    url = start(console, "assessor", format="csv").headers["location"]
    run_reports(api_redis)

    download = console.as_("assessor").get(f"{url}/file")

    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert "城管委" in download.content.decode("utf-8-sig")
    assert 'filename="evaluation-department-2026-' in download.headers["content-disposition"]


def test_export__another_account_sees_nothing_of_it(
    console: Console, rated: Rated, api_redis: redis.Redis
) -> None:
    url = start(console, "assessor").headers["location"]
    run_reports(api_redis)
    other = console.as_("assessor_s2")

    answers = [other.get(url), other.get(f"{url}.json"), other.get(f"{url}/file")]
    unknown = console.as_("assessor").get("/console/evaluation/exports/esc-1-0")

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert unknown.status_code == 404


def test_export__the_file_before_the_build_is_a_clear_409(
    console: Console, rated: Rated, api_redis: redis.Redis
) -> None:
    url = start(console, "assessor").headers["location"]

    answer = console.as_("assessor").get(f"{url}/file")

    assert answer.status_code == 409
    assert "文件尚未生成完毕" in answer.text


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"levels": []}, 422, "请至少选择一个考核对象"),
        ({"levels": ["galaxy"]}, 422, "请至少选择一个考核对象"),
        ({"format": "pdf"}, 422, "请选择 XLSX 或 CSV 格式"),
        ({"from": "2026-04", "to": "2026-02"}, 422, "早于起始月份"),
        ({"csrf_token": "forged"}, 403, "表单已失效"),
    ],
)
def test_export__bad_forms_queue_nothing_and_say_why(
    console: Console, rated: Rated, api_redis: redis.Redis, fields: dict[str, object], code: int,
    message: str,
) -> None:  # fmt: skip
    answer = start(console, "assessor", **fields)

    assert answer.status_code == code
    assert message in answer.text
    assert queued(api_redis) == 0


def test_export__a_bad_form_keeps_the_choices_made(
    console: Console, rated: Rated, api_redis: redis.Redis
) -> None:
    answer = start(console, "assessor", levels=["street"], format="pdf")

    assert (
        '<input type="checkbox" id="export-level-street" name="levels" value="street" checked>'
        in answer.text
    )
    assert 'id="export-level-department" name="levels" value="department">' in answer.text


def test_export__without_redis_says_exports_need_it(
    console: Console, rated: Rated, api_redis: redis.Redis
) -> None:
    app = console.api.app
    app.state.redis = None
    try:
        answer = start(console, "assessor")
    finally:
        app.state.redis = api_redis

    assert answer.status_code == 503
    assert "导出需要 Redis" in answer.text
    assert queued(api_redis) == 0


def test_export__a_department_may_not_start_one(
    console: Console, rated: Rated, api_redis: redis.Redis
) -> None:
    token = console.csrf("dept_um")
    answer = console.as_("dept_um").post("/console/evaluation/exports", data={
        "csrf_token": token, "levels": ["department"], "format": "xlsx", **MARCH,
    })  # fmt: skip

    assert answer.status_code == 403
    assert queued(api_redis) == 0
