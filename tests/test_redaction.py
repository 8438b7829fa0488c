"""Redaction of personal data from free text: what is removed, what is left, the placeholders."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.redaction import (
    PersonalData,
    coarsen_address,
    coarsen_position,
    find_personal_data,
    redact,
    redact_names,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678联系", "电话[电话]联系"),
        ("call 138 1234 5678 please", "call [电话] please"),
        ("手机138-1234-5678。", "手机[电话]。"),
        ("+86 13812345678", "[电话]"),
        ("+86-138-1234-5678", "[电话]"),
        ("(+86)13912345678", "[电话]"),
        ("008615912345678", "[电话]"),
        ("8619912345678", "[电话]"),
        ("电话１３８１２３４５６７８谢谢", "电话[电话]谢谢"),
        ("座机010-12345678", "座机[电话]"),
        ("0731-88886666转123找王师傅", "[电话]找王师傅"),
        ("(0731)88886666", "[电话]"),
        ("（0755）2345678 白天打", "[电话] 白天打"),
        ("号码0731 8888666", "号码[电话]"),
        ("请拨电话：87654321", "请拨电话：[电话]"),
        ("tel 8765-4321", "tel [电话]"),
    ],
)
def test_redact__phone_numbers_in_their_written_forms(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证430102199003071234，", "身份证[身份证号]，"),
        ("身份证号11010519491231002X", "身份证号[身份证号]"),
        ("id 11010519491231002x ok", "id [身份证号] ok"),
        ("430102 19900307 1234", "[身份证号]"),
        ("老证号430102900307123", "老证号[身份证号]"),
    ],
)
def test_redact__id_card_numbers_18_and_15_digits(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("湘A12345占道", "[车牌]占道"),
        ("一辆京A·D12345新能源车", "一辆[车牌]新能源车"),
        ("粤B 12345F", "[车牌]"),
        ("车牌湘a1b234停了三天", "车牌[车牌]停了三天"),
        ("苏E1234学", "[车牌]"),
        ("沪C·12345", "[车牌]"),
    ],
)
def test_redact__vehicle_plates(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("邮箱zhang.san+311@example.com.cn谢谢", "邮箱[邮箱]谢谢"),
        ("mail me at a_b-c@mail-host.org.", "mail me at [邮箱]."),
        ("13812345678@qq.com", "[邮箱]"),
    ],
)
def test_redact__email_addresses_before_the_numbers_in_them(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "拨打12345市民热线反映",
        "2024-03-01 上午，路灯不亮已有3天",
        "工单号20240301000123",
        "金额12345678元",
        "离地铁站300米，4号楼2单元",
        "京ABCDE 不是车牌",
        "Water & Sewer: 55 open cases, 1234 closed",
        "订单 1381234567890123 的快递",
        "version 1.13.8 of the app",
    ],
)
def test_redact__leaves_numbers_that_are_not_personal_data(text: str) -> None:
    assert redact(text) == text
    assert find_personal_data(text) == []


def test_find_personal_data__reports_kind_and_span_in_the_original_text() -> None:
    text = "王先生13812345678，车湘A12345，邮箱wang@example.com，证件430102199003071234"
    findings = find_personal_data(text)
    assert [f.kind for f in findings] == [
        PersonalData.PHONE,
        PersonalData.PLATE,
        PersonalData.EMAIL,
        PersonalData.ID_CARD,
    ]
    for finding in findings:
        assert text[finding.start : finding.end] == finding.text
    assert redact(text) == "王先生[电话]，车[车牌]，邮箱[邮箱]，证件[身份证号]"


def test_redact__placeholders_name_what_was_removed() -> None:
    assert {kind.placeholder for kind in PersonalData} == {
        "[电话]",
        "[身份证号]",
        "[车牌]",
        "[邮箱]",
    }


def test_redact__empty_and_clean_text_pass_through() -> None:
    assert redact("") == ""
    assert redact("小区门口垃圾堆积") == "小区门口垃圾堆积"


_MOBILES = st.builds(
    lambda second, rest: f"1{second}{rest}",
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)
_CHINESE = st.text(alphabet="小区门口垃圾堆积路灯不亮请处理，。", max_size=12)


@settings(max_examples=200, deadline=None)
@given(before=_CHINESE, mobile=_MOBILES, after=_CHINESE)
def test_redact__any_mobile_between_chinese_text_is_removed(
    before: str, mobile: str, after: str
) -> None:
    redacted = redact(before + mobile + after)
    assert redacted == before + "[电话]" + after
    assert redact(redacted) == redacted  # placeholders are not themselves personal data


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 -+()@.湘京AXDxa电话转号"), max_size=40))
def test_redact__is_idempotent_and_changes_only_what_it_found(text: str) -> None:
    redacted = redact(text)
    assert redact(redacted) == redacted
    findings = find_personal_data(text)
    rebuilt, cursor = [], 0
    for finding in findings:
        assert cursor <= finding.start < finding.end
        rebuilt += [text[cursor : finding.start], finding.kind.placeholder]
        cursor = finding.end
    assert "".join([*rebuilt, text[cursor:]]) == redacted


# -- coarser places and known names, for what is published ------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("东城区东华门大街12号3单元401室", "东城区东华门大街"),
        ("朝阳区望京小区5号楼", "朝阳区望京小区"),
        ("岳麓区麓山南路二号", "岳麓区麓山南路"),
        ("某某路甲3号", "某某路"),
        ("123 Main St, Boston", "Main St, Boston"),
        ("INTERSECTION of Main St & Elm St", "INTERSECTION of Main St & Elm St"),
        ("12号", None),
        ("", None),
        (None, None),
        ("幸福路口 电话13812345678", "幸福路口 电话[电话]"),
    ],
)
def test_coarsen_address__keeps_the_street_and_drops_house_numbers(
    address: str | None, expected: str | None
) -> None:
    assert coarsen_address(address) == expected


def test_coarsen_position__rounds_to_the_block_and_keeps_none() -> None:
    assert coarsen_position(39.916345, 116.397155) == (39.916, 116.397)
    assert coarsen_position(None, 116.4) == (None, None)


def test_redact_names__removes_a_known_name_of_two_characters_or_more() -> None:
    text = "王建国说王建国家门口电话13812341234；王先生"
    assert redact_names(text, ["王建国", None, "王"]) == "[姓名]说[姓名]家门口电话[电话]；王先生"
