"""The pure parts of smart intake: lexicon, duplicates, hotspots, classifier, department ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import InvalidInput
from engine.insight import classifier
from engine.insight.classifier import Item
from engine.insight.duplicates import Candidate, Probe, distance_m, phone_key, rank, score
from engine.insight.hotspots import HotCase, clusters, common_place, heat_index
from engine.insight.lexicon import Lexicon
from engine.insight.scorer import (
    CategoryRef,
    CategoryScore,
    DispatchCount,
    OrgRef,
    Route,
    rank_departments,
)
from engine.vocabulary import AssignmentRole, CaseState, Priority

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_lexicon__proposes_emergency_and_names_the_words():
    hit = Lexicon.default().match("小区门口燃气泄漏，有人闻到味道 and a gas leak")
    assert hit is not None
    assert hit.priority == Priority.EMERGENCY
    assert set(hit.words) == {"燃气泄漏", "gas leak"}


def test_lexicon__english_words_match_whole_words_only():
    assert Lexicon.default().match("the firewall of the office is slow") is None
    assert Lexicon.default().match("停水三天了").priority == Priority.URGENT  # type: ignore[union-attr]


def test_lexicon__file_with_an_unknown_priority_is_a_clear_error(tmp_path):
    path = tmp_path / "lexicon.yaml"
    path.write_text("critical: [x]\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="critical: expected one of emergency, urgent"):
        Lexicon.from_file(path)
    path.write_text("emergency: [漏水啦]\n", encoding="utf-8")
    assert Lexicon.from_file(path).match("厨房漏水啦").priority == Priority.EMERGENCY  # type: ignore[union-attr]


def _candidate(i: int, title: str, **kw: object) -> Candidate:
    fields: dict[str, object] = {"description": "", "area_path": "/1/2/3/", "state": "reported",
                                 "created_at": NOW - timedelta(days=1)}  # fmt: skip
    fields |= kw
    return Candidate(i, title, **fields)  # type: ignore[arg-type]


def test_duplicates__same_text_in_the_same_community_is_a_duplicate_with_its_reason():
    probe = Probe("东华门大街12号路灯不亮", area_path="/1/2/3/", area_depth=2)
    found = score(probe, _candidate(7, "东华门大街12号路灯不亮了"))
    assert found is not None
    assert found.case_id == 7
    assert found.score > 0.8
    assert "同一社区" in found.reason
    assert "same community" in found.reason_en


def test_duplicates__same_text_elsewhere_is_not_but_the_same_phone_is():
    probe = Probe("东华门大街12号路灯不亮", area_path="/1/9/", area_depth=2, phone="138 0013 8000")
    assert score(probe, _candidate(7, "东华门大街12号路灯不亮")) is None
    by_phone = score(probe, _candidate(8, "东华门大街12号路灯不亮", phone="13800138000"))
    assert by_phone is not None
    assert "same caller phone" in by_phone.reason_en


def test_duplicates__coordinates_decide_within_the_radius():
    probe = Probe("井盖丢失很危险", latitude=39.9, longitude=116.4)
    near = _candidate(1, "井盖丢失很危险", latitude=39.9005, longitude=116.4, area_path="/x/")
    far = _candidate(2, "井盖丢失很危险", latitude=39.95, longitude=116.4, area_path="/x/")
    assert [d.case_id for d in rank(probe, [near, far])] == [1]
    assert 50 < distance_m(39.9, 116.4, 39.9005, 116.4) < 60


def test_duplicates__different_text_at_the_same_place_is_not():
    probe = Probe("路灯不亮", area_path="/1/2/3/", area_depth=2)
    assert score(probe, _candidate(3, "楼下餐馆油烟扰民严重")) is None


def test_phone_key__ignores_formatting_and_the_country_code():
    assert phone_key("+86 138-0013-8000") == phone_key("13800138000") == "13800138000"
    assert phone_key("12") is None


def _hot(i: int, title: str, day: int, reporter: str, reactions: int = 0) -> HotCase:
    return HotCase(i, f"H-{i}", title, "", NOW + timedelta(days=day), "s1", "东华门街道",
                   reporter, reactions)  # fmt: skip


def test_hotspots__cluster_alike_cases_and_rank_by_heat():
    cases = [
        _hot(1, "魅力之城小区临街门面油烟扰民", 0, "u1", 3),
        _hot(2, "魅力之城小区楼下门面油烟扰民严重", 1, "u2", 5),
        _hot(3, "魅力之城小区临街门面油烟扰民问题", 2, "u3"),
        _hot(4, "学校门口交通拥堵", 0, "u4"),
        _hot(5, "学校门口交通拥堵严重", 1, "u4"),
        _hot(6, "公积金提取咨询", 3, "u5"),
    ]
    found = clusters(cases, top=5)
    assert [sorted(c.id for c in f.members) for f in found] == [[1, 2, 3], [4, 5]]
    top = found[0]
    assert top.reporters == 3
    assert top.reactions == 8
    assert top.heat == heat_index(reporters=3, volume=3, reactions=8, growth=3.0)
    assert "魅力之城小区" in top.place
    assert found[1].reporters == 1  # one reporter twice: repeats weigh half


def test_hotspots__growth_counts_alike_cases_of_the_window_before():
    now = [_hot(i, "魅力之城小区油烟扰民", 0, f"u{i}") for i in range(1, 4)]
    before = [_hot(10 + i, "魅力之城小区油烟扰民", -10, f"v{i}") for i in range(3)]
    [cluster] = clusters(now, previous=before)
    assert cluster.previous == 3
    assert cluster.growth == 0.0


def test_common_place__finds_the_phrase_shared_by_most_titles():
    assert (
        common_place(["A市魅力之城小区噪音", "魅力之城小区油烟", "投诉魅力之城小区"])
        == "魅力之城小区"
    )


def _training_set() -> tuple[list[Item], list[str]]:
    topics = {
        "WATER": ["停水", "水管破裂", "自来水浑浊", "水压太低", "漏水严重"],
        "LIGHT": ["路灯不亮", "路灯损坏", "路灯闪烁", "夜间无照明", "灯杆倾斜"],
        "NOISE": ["工地噪音", "夜间施工扰民", "广场舞噪音", "装修噪音", "酒吧噪音"],
    }
    items, labels = [], []
    for label, phrases in topics.items():
        for i, phrase in enumerate(phrases):
            for place in ("东华门大街", "景山前街"):
                items.append(Item(f"{place}{i}号{phrase}", f"{phrase}，请尽快处理"))
                labels.append(label)
    return items, labels


def test_classifier__learns_top_categories_with_probabilities():
    items, labels = _training_set()
    model = classifier.fit(items, labels)
    [best] = classifier.top(model, [Item("景山前街路灯不亮了", "")], k=3)
    assert best[0][0] == "LIGHT"
    assert 0 < best[-1][1] <= best[0][1] <= 1
    restored = classifier.loads(classifier.dumps(model))
    assert classifier.top(restored, [Item("景山前街路灯不亮了")]) == [best]


def test_classifier__cross_validation_reports_macro_f1_per_class_and_top3():
    items, labels = _training_set()
    metrics = classifier.cross_validate(items, labels, folds=3)
    assert metrics.samples == 30
    assert metrics.folds == 3
    assert set(metrics.per_class) == {"WATER", "LIGHT", "NOISE"}
    assert metrics.top3_accuracy == 1.0
    assert 0.5 < metrics.macro_f1 <= 1.0


def test_subcategory_texts__the_names_below_each_category_down_to_each_leaf():
    paths = [
        [("C", "城乡建设"), ("C1", "安全生产"), ("C11", "事故处理")],
        [("C", "城乡建设"), ("C1", "安全生产"), ("C12", "安全隐患 隐患")],
        [("C", "城乡建设"), ("C2", "物业管理")],
        [("E", "环境保护")],
    ]

    assert classifier.subcategory_texts(paths) == {
        "C": ["安全生产 事故处理", "安全生产 安全隐患 隐患", "物业管理"],
        "C1": ["事故处理", "安全隐患 隐患"],
    }
    assert classifier.subcategory_texts([]) == {}


def test_classifier__a_subcategory_name_teaches_its_category_words_its_cases_never_used():
    items, labels = _training_set()
    # The words come from an unclassified case; only the subcategory ties them to WATER.
    loose = [Item("下水道堵塞", "污水冒出来了")]
    query = [Item("小区下水道堵塞", "")]
    described = {"WATER": ["排水 下水道堵塞"], "GHOST": ["下水道堵塞"]}

    plain = classifier.fit(items, labels, unlabelled=loose)
    taught = classifier.fit(items, labels, unlabelled=loose, described=described)

    before = dict(classifier.top(plain, query, k=3)[0])
    after = dict(classifier.top(taught, query, k=3)[0])
    assert max(after, key=after.__getitem__) == "WATER"
    assert after["WATER"] > before["WATER"]
    assert taught.labels == plain.labels == ["LIGHT", "NOISE", "WATER"]  # GHOST has no cases


def test_classifier__too_few_cases_to_learn_is_a_clear_error():
    with pytest.raises(ValueError, match="at least two categories"):
        classifier.fit([Item("路灯不亮")] * 3, ["LIGHT"] * 3)


def test_seed_model__matches_category_names_and_keywords():
    model = classifier.seed({"WATER": "供水 停水 水管", "LIGHT": "路灯 照明"})
    assert classifier.top(model, [Item("家里停水了")])[0][0][0] == "WATER"
    assert model.calibrated is False


def test_departments__rule_and_history_with_an_upheld_objection_counting_against():
    cat = CategoryRef(1, "CITY", "城市管理", "City management")
    orgs = {10: OrgRef(10, "城管委", "UM"), 11: OrgRef(11, "水务局", "Water"),
            12: OrgRef(12, "住建委", "Housing")}  # fmt: skip
    ranked = rank_departments(
        [CategoryScore(cat, 0.9)],
        routes={1: Route(10, (11,))},
        history={1: {10: DispatchCount(8, 0), 12: DispatchCount(4, 2)}},
        orgs=orgs,
    )
    assert [d.org.id for d in ranked] == [10, 11]  # housing: 4 dispatched − 2×2 upheld = 0
    assert ranked[0].role == AssignmentRole.LEAD
    assert ranked[1].role == AssignmentRole.ASSISTING
    assert "派单规则" in ranked[0].reason
    assert "8 of 12" in ranked[0].reason_en


def test_departments__without_a_rule_history_alone_ranks():
    cat = CategoryRef(1, "CITY", "城市管理", "City management")
    orgs = {10: OrgRef(10, "城管委", "UM"), 12: OrgRef(12, "住建委", "Housing")}
    ranked = rank_departments(
        [CategoryScore(cat, 1.0)], routes={},
        history={1: {10: DispatchCount(1), 12: DispatchCount(3)}}, orgs=orgs,
    )  # fmt: skip
    assert [(d.org.id, d.score) for d in ranked] == [(12, 0.75), (10, 0.25)]


def test_candidate_states_are_vocabulary():
    assert _candidate(1, "x").state == CaseState.REPORTED
