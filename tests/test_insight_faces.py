"""Smart intake through its faces: the suggestions and hotspots API, the commands, the training
job on a real RQ worker, and the TipDM mapping (when the shared data is at hand)."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.case.models import Case
from engine.case.service import CaseDraft, raise_case
from engine.demo.city import SHARED_DATA
from engine.event.models import Event
from engine.insight import queries
from engine.insight.models import CaseLink, InsightModel
from engine.insight.service import train
from engine.organisation import service as org
from tests.escalation_support import burst
from tests.fixtures_api import row_counts
from tests.fixtures_shared import whistle
from workers.insight import enqueue_training

TOPICS = {
    "CITY-LIGHT": ["路灯不亮", "路灯损坏", "路灯闪烁", "夜间路灯不亮无照明"],
    "WATER": ["停水三天", "水管破裂漏水", "自来水浑浊发黄", "水压太低"],
    "NOISE": ["工地夜间施工噪音", "广场舞噪音扰民", "装修噪音扰民", "酒吧噪音太大"],
}


def _history(session, rt, city, clock) -> list[Case]:
    """Classified cases: four phrasings of three topics at two grids."""
    codes = {"CITY-LIGHT": city.sub_category}
    codes["WATER"] = org.create_category(session, code="WATER", name_zh="供水", name_en="Water")
    codes["NOISE"] = org.create_category(session, code="NOISE", name_zh="噪音", name_en="Noise",
                                         keywords=["扰民"])  # fmt: skip
    session.commit()
    made = []
    for code, phrases in TOPICS.items():
        for i, phrase in enumerate(phrases):
            for street in (0, 1):
                made.append(
                    raise_case(
                        session=session, rt=rt, actor=city.actor(session, "admin"),
                        draft=CaseDraft(
                            title=f"{'东华门大街' if street == 0 else '景山前街'}{i + 1}号{phrase}",
                            description=f"{phrase}，请尽快处理", area_id=city.grids[street].id,
                            category_id=codes[code].id,
                        ),
                        now=clock.now() - timedelta(days=60),
                    )
                )  # fmt: skip
    return made


@pytest.fixture
def trained(session, rt, city, clock) -> InsightModel:
    _history(session, rt, city, clock)
    return train(session=session, now=clock.now())


def test_category_paths__root_to_leaf_with_names_and_keywords(session, city):
    org.create_category(session, code="CITY-LIGHT-POLE", name_zh="灯杆", name_en="Light poles",
                        parent=city.sub_category, keywords=["灯杆倾斜", "灯杆倒伏"])  # fmt: skip

    paths = queries.category_paths(session)

    assert [
        ("CITY", "城市管理 City management"),
        ("CITY-LIGHT", "路灯 Street lights"),
        ("CITY-LIGHT-POLE", "灯杆 Light poles 灯杆倾斜 灯杆倒伏"),
    ] in paths
    assert all(len(p) < 3 or p[-1][0] != "CITY-LIGHT" for p in paths)  # a parent is no leaf


def test_suggestions__four_lists_from_the_trained_model(api, session, rt, city, clock, trained):
    first = raise_case(
        session=session, rt=rt, actor=city.actor(session, "cc_s1"),
        draft=CaseDraft(title="东华门大街3号路灯坏了不亮", area_id=city.grids[0].id,
                        reporter_phone="13800138000"),
        now=clock.now(),
    )  # fmt: skip
    body = {"title": "东华门大街3号路灯坏了不亮", "description": "路边有电线裸露可能触电",
            "area_id": city.grids[0].id, "phone": "138 0013 8000"}  # fmt: skip
    answer = api.post("/api/v1/suggestions", "cc_s1", json=body)
    assert answer.status_code == 200, answer.text
    s = answer.json()
    assert s["categories"][0]["code"] == "CITY-LIGHT"
    assert len(s["categories"]) == 3
    assert s["model_version"] == trained.version
    assert s["departments"][0]["name"] == "城管委"
    assert "派单规则" in s["departments"][0]["reason"]
    assert s["priority"] == "emergency"
    assert s["urgency_words"] == ["触电"]
    # The same caller's case first; an older open case at the same grid reads alike too.
    assert s["duplicates"][0]["id"] == first.id
    assert "same caller phone" in s["duplicates"][0]["reason_en"]


def test_suggestions__without_a_model_come_from_category_names_and_keywords(api, session, city):
    org.create_category(session, code="NOISE", name_zh="噪音", name_en="Noise", keywords=["扰民"])
    session.commit()
    s = api.post("/api/v1/suggestions", "cc_s1", json={"title": "楼下烧烤店半夜扰民"}).json()
    assert s["categories"][0]["code"] == "NOISE"
    assert s["confident"] is False
    assert s["model_version"] is None


@pytest.mark.parametrize(
    ("who", "body", "status", "needle"),
    [
        ("cc_s1", {"title": " ", "description": ""}, 422, "at least two characters"),
        ("cc_s1", {"title": "路灯", "area_id": "x"}, 422, "area_id"),
        ("cc_s1", {"title": "路灯", "area_id": 999999}, 422, "999999 is not an area"),
        ("cc_s1", {"title": "路灯", "latitude": 39.9}, 422, "give both or neither"),
        ("cc_s1", {"title": "路灯", "colour": "red"}, 422, "colour"),
        ("cc_s1", ["路灯"], 422, "valid dictionary"),
        ("cc_s1", {"title": "x" * 10_001}, 422, "title"),
        ("dept_um", {"title": "路灯不亮"}, 403, "gets no suggestions"),
        (None, {"title": "路灯不亮"}, 401, ""),
    ],
)
def test_suggestions__bad_input_is_a_clear_error_and_changes_nothing(
    api, session_factory, who, body, status, needle
):
    before = row_counts(session_factory)
    answer = api.post("/api/v1/suggestions", who, json=body)
    assert answer.status_code == status, answer.text
    assert needle in answer.text
    assert row_counts(session_factory) == before


def test_suggestions__an_area_of_another_street_is_not_found(api, city):
    answer = api.post("/api/v1/suggestions", "cc_s2",
                      json={"title": "路灯不亮", "area_id": city.grids[0].id})  # fmt: skip
    assert answer.status_code == 404


def test_suggestions__a_ten_megabyte_body_is_refused(api):
    answer = api.post("/api/v1/suggestions", "cc_s1",
                      content=b'{"title": "' + b"x" * (10 << 20) + b'"}',
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 413


def test_models__lists_versions_with_their_metrics(api, trained):
    [model] = api.get("/api/v1/models", "cc_s1").json()
    assert model["version"] == trained.version
    assert model["kind"] == "learned"
    assert 0 < model["metrics"]["macro_f1"] <= 1
    assert set(model["metrics"]["per_class"]) == set(TOPICS)


def _hot_cases(session, rt, city, clock) -> list[Case]:
    titles = ["魅力之城小区门面油烟扰民", "魅力之城小区门面油烟扰民严重", "魅力之城小区油烟扰民",
              "公积金提取咨询"]  # fmt: skip
    return [
        raise_case(
            session=session, rt=rt, actor=city.actor(session, "cc_s1"),
            draft=CaseDraft(title=t, description="电话 13800138000" if i < 3 else "办理流程",
                            area_id=city.grids[0].id,
                            reporter_phone=f"1380013800{i}"),
            now=clock.now() - timedelta(days=1),
        )
        for i, t in enumerate(titles)
    ]  # fmt: skip


def test_hotspots__api_lists_clusters_and_promotes_one(api, session, rt, city, clock):
    cases = _hot_cases(session, rt, city, clock)
    day = (clock.now() - timedelta(days=1)).date().isoformat()
    answer = api.get(f"/api/v1/hotspots?from={day}&to={day}&top=5", "cc_s1")
    assert answer.status_code == 200, answer.text
    [hot] = answer.json()["hotspots"]
    assert sorted(m["id"] for m in hot["cases"]) == sorted(c.id for c in cases[:3])
    assert hot["reporters"] == 3
    assert "魅力之城小区" in hot["place"]
    # The other street's centre sees none of them.
    assert api.get(f"/api/v1/hotspots?from={day}&to={day}", "cc_s2").json()["hotspots"] == []
    promoted = api.post("/api/v1/hotspots/promote", "cc_s1", json={
        "title": "每月一题：魅力之城小区油烟", "area_id": city.streets[0].id,
        "case_ids": [m["id"] for m in hot["cases"]],
    })  # fmt: skip
    assert promoted.status_code == 201, promoted.text
    item = promoted.json()["id"]
    links = session.scalars(select(CaseLink.linked_case_id).where(CaseLink.case_id == item))
    assert sorted(links) == sorted(c.id for c in cases[:3])
    assert session.get(Case, item).workflow == "street_whistle"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("query", "needle"),
    [("from=2026-02-10&to=2026-02-01", "ends before"), ("from=2020-01-01&to=2026-01-01", "366"),
     ("from=yesterday&to=2026-01-01", "from"), ("from=2026-01-01&to=2026-01-02&top=0", "top"),
     # The previous window reaches as far back again: the calendar's ends answered 500 once.
     ("from=0001-01-01&to=0002-01-01", "between the years"),
     ("from=9999-12-30&to=9999-12-31", "between the years")],
)  # fmt: skip
def test_hotspots__bad_window_is_a_clear_error(api, query, needle):
    answer = api.get(f"/api/v1/hotspots?{query}", "cc_s1")
    assert answer.status_code == 422
    assert needle in answer.text


def test_promote__unknown_or_foreign_cases_change_nothing(api, session, rt, city, clock,
                                                         session_factory):  # fmt: skip
    cases = _hot_cases(session, rt, city, clock)
    before = row_counts(session_factory)
    body = {"title": "每月一题", "area_id": city.streets[1].id, "case_ids": [cases[0].id]}
    assert api.post("/api/v1/hotspots/promote", "cc_s2", json=body).status_code == 422
    body = {"title": "每月一题", "area_id": city.streets[0].id, "case_ids": [999999]}
    answer = api.post("/api/v1/hotspots/promote", "cc_s1", json=body)
    assert answer.status_code == 422
    assert "999999" in answer.text
    body = {"title": "每月一题", "area_id": city.streets[0].id, "case_ids": []}
    assert api.post("/api/v1/hotspots/promote", "cc_s1", json=body).status_code == 422
    assert row_counts(session_factory) == before


def test_cli_suggest__one_json_object_per_row(cli_env, session, rt, city, clock, trained, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(
        "id,text,area\na1,景山前街2号路灯不亮,G2\na2,小区燃气泄漏了,\n", encoding="utf-8"
    )
    result = whistle("suggest", str(path))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["id"] for line in lines] == ["a1", "a2"]
    assert lines[0]["categories"][0] == {"name": "路灯", "name_en": "Street lights",
                                         "score": lines[0]["categories"][0]["score"]}  # fmt: skip
    assert lines[0]["departments"][0]["name"] == "城管委"
    assert lines[1]["priority"] == "emergency"
    assert lines[0]["priority"] is None
    assert set(lines[0]) >= {"id", "categories", "departments", "priority", "duplicates"}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("id,body\n1,x\n", "needs the columns id,text"),
        ("id,text,area\n1,路灯不亮,NOPE\n", "NOPE"),
        ("id,text\n1, \n", "at least two characters"),
        ("id,text,lat\n1,路灯不亮,x\n", "lat and long"),
    ],
)
def test_cli_suggest__bad_csv_is_a_clear_error(cli_env, city, tmp_path, content, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    result = whistle("suggest", str(path))
    assert result.exit_code == 2
    assert needle in result.output


def test_cli_models_train_and_hotspots(cli_env, session, rt, city, clock):
    _history(session, rt, city, clock)
    cases = _hot_cases(session, rt, city, clock)
    result = whistle("models", "train")
    assert result.exit_code == 0, result.output
    assert "model version 1 (learned)" in result.output
    assert "macro-F1" in result.output
    assert "路灯" in result.output
    day = cases[0].created_at.astimezone().date()
    out = whistle("hotspots", "--from", str(day - timedelta(days=1)), "--to",
                  str(day + timedelta(days=1)), "--top", "3", "--format", "json")  # fmt: skip
    assert out.exit_code == 0, out.output
    [hot] = json.loads(out.output)
    assert set(hot) >= {"rank", "heat", "place", "summary", "from", "to", "cases"}
    assert hot["rank"] == 1
    assert "13800138000" not in json.dumps(hot, ensure_ascii=False)
    assert {c["id"] for c in hot["cases"]} == {c.id for c in cases[:3]}
    bad = whistle("hotspots", "--from", "2026-02-10", "--to", "2026-02-01")
    assert bad.exit_code == 2
    assert "before the first" in bad.output


def test_training_job__a_real_worker_stores_a_new_version(cli_env, session, rt, city, clock,
                                                         connection):  # fmt: skip
    _history(session, rt, city, clock)
    job = enqueue_training(connection, now=clock.now())
    assert enqueue_training(connection, now=clock.now()).id == job.id  # once an hour
    assert burst(connection)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(InsightModel)) == 1
    assert job.latest_result().return_value["kind"] == "learned"  # type: ignore[union-attr]


DATA = SHARED_DATA
HOT = DATA / "china" / "tipdm2020C_hot_issue_messages_4326.csv.gz"


@pytest.mark.skipif(not HOT.is_file(), reason=f"the TipDM hot-issue messages are not at {HOT}")
def test_tipdm_mapping__keeps_likes_and_dislikes_for_the_heat_index(cli_env, session, tmp_path):
    # 200 rows copied to a temporary file only: the data is never part of the repository.
    sample = tmp_path / "hot.csv"
    with gzip.open(HOT, "rt", encoding="utf-8") as src, sample.open("w", encoding="utf-8") as dst:
        for i, row in enumerate(csv.reader(src)):
            if i > 200:
                break
            csv.writer(dst).writerow(row)
    mapping = Path(__file__).parent.parent / "examples" / "mapping_tipdm_hot.yaml"
    result = whistle("import", "csv", str(sample), "--mapping", str(mapping))
    assert result.exit_code == 0, result.output
    assert "imported 200" in result.output
    payloads = session.scalars(select(Event.payload).where(Event.seq == 1)).all()
    assert all({"likes", "against", "user"} <= set(p["facts"]) for p in payloads)
    out = whistle("hotspots", "--from", "2017-01-01", "--to", "2017-12-31", "--format", "json")
    assert out.exit_code == 0, out.output


def test_cli_suggest__an_area_by_id_and_a_department_id_that_is_no_area(cli_env, city, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(f"id,text,area\na1,路灯不亮,{city.streets[0].id}\n", encoding="utf-8")
    result = whistle("suggest", str(path))
    assert result.exit_code == 0, result.output
    department = city.departments[0].id
    path.write_text(f"id,text,area\na1,路灯不亮,{department}\n", encoding="utf-8")
    result = whistle("suggest", str(path))
    assert result.exit_code == 2
    assert f"no area with id or code '{department}'" in result.output
