"""Smart intake's speed with 100,000 cases of history: a suggestion at intake (p50/p99), training
a model version, and the hotspots of one month.

    .venv/bin/python -m bench.insight_speed [--backend sqlite|postgresql] [--cases 100000]
                                            [--suggestions 500] [--json out.json]

The history is synthetic (no shared data is read): one district of 5 streets × 4 communities,
7 categories with a routing rule each, 100,000 classified cases over the past 365 days, titles
and descriptions made from 20 estates per community × 12 problem phrases per category, callers
drawn from 30,000 phone numbers, 20 % of the cases still open. They are inserted in bulk (Core
inserts, no events), then measured through the engine's own use cases as a district command
centre would call them (``suggest_one``, ``train``, ``hotspots``), in this process. Goals
(issue 13): suggestion p99 < 50 ms, training < 60 s, a month of hotspots < 5 s. The machine is
shared: the load average is printed and recorded beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.world import fresh_database
from engine.access import Actor
from engine.case.models import Case
from engine.db import Base, make_engine, make_session_factory
from engine.insight.lexicon import Lexicon
from engine.insight.service import SuggestRequest, hotspots, suggest_one, train
from engine.organisation import service as org
from engine.vocabulary import CaseState, OrgKind, Priority, Role, Source

PROBLEMS = {
    ("ENV", "环境保护", "Environment"): [
        "油烟扰民",
        "噪音扰民",
        "污水直排",
        "垃圾堆放发臭",
        "工地扬尘",
        "夜间施工噪音",
        "烧烤油烟",
        "河道污染",
        "异味刺鼻",
        "搅拌站粉尘",
        "焚烧垃圾",
        "排污口冒黑水",
    ],
    ("TRA", "交通运输", "Transport"): [
        "公交线路太少",
        "红绿灯时间太短",
        "道路坑洼",
        "乱停车堵路",
        "出租车拒载",
        "公交站台损坏",
        "人行道被占",
        "路口拥堵",
        "共享单车乱放",
        "路灯不亮",
        "停车收费过高",
        "斑马线褪色",
    ],
    ("EDU", "教育文体", "Education"): [
        "学位不够",
        "学区划分不合理",
        "补课收费",
        "校车安全",
        "幼儿园收费过高",
        "学校食堂卫生",
        "入学难",
        "教师有偿补课",
        "体育场馆不开放",
        "图书馆开放时间短",
        "学校周边商贩",
        "学生午托",
    ],
    ("LAB", "劳动和社会保障", "Labour"): [
        "拖欠工资",
        "社保断缴",
        "医保报销难",
        "养老金发放",
        "失业金申领",
        "工伤认定",
        "劳动合同纠纷",
        "公积金提取",
        "退休手续",
        "加班费不发",
        "农民工欠薪",
        "社保转移",
    ],
    ("HEA", "卫生计生", "Health"): [
        "医院排队太久",
        "药价过高",
        "诊所无证行医",
        "疫苗接种",
        "计生服务",
        "医疗纠纷",
        "急救车太慢",
        "社区医院缺药",
        "医保定点",
        "食品卫生",
        "口腔诊所收费",
        "体检收费",
    ],
    ("BLD", "城乡建设", "Construction"): [
        "违章建筑",
        "房屋漏水",
        "延期交房",
        "拆迁补偿",
        "房产证办不下来",
        "物业不作为",
        "电梯故障",
        "小区停水",
        "外墙脱落",
        "车位捆绑销售",
        "安置房质量",
        "燃气管道老化",
    ],
    ("TRD", "商贸旅游", "Trade"): [
        "商家虚假宣传",
        "预付卡跑路",
        "景区收费",
        "超市售卖过期食品",
        "占道经营",
        "网购纠纷",
        "酒店乱收费",
        "旅行社强制购物",
        "菜市场缺斤短两",
        "快递丢件",
        "装修公司违约",
        "美容院办卡",
    ],
}
ESTATES = ["花园", "新村", "家园", "雅苑", "国际城"]
DAYS = 365


def build(url: str, *, cases: int, now: datetime, seed: int = 0) -> dict[str, Any]:
    """The organisation, the categories and rules, and ``cases`` cases in bulk."""
    rng = random.Random(seed)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        district = org.create_node(
            session, kind=OrgKind.DISTRICT, code="D1", name_zh="东城区", name_en="Dongcheng"
        )
        communities = []
        for s in range(5):
            street = org.create_node(
                session,
                kind=OrgKind.STREET,
                code=f"S{s}",
                name_zh=f"第{s}街道",
                name_en=f"Street {s}",
                parent=district,
            )
            for c in range(4):
                communities.append(
                    org.create_node(
                        session,
                        kind=OrgKind.COMMUNITY,
                        code=f"S{s}C{c}",
                        name_zh=f"第{s}街道{c}社区",
                        name_en=f"Community {s}-{c}",
                        parent=street,
                    )
                )
        categories = []
        for code, zh, en in PROBLEMS:
            dept = org.create_node(
                session,
                kind=OrgKind.DEPARTMENT,
                code=f"DEP-{code}",
                name_zh=f"{zh}局",
                name_en=f"{en} bureau",
                parent=district,
            )
            category = org.create_category(session, code=code, name_zh=zh, name_en=en)
            org.add_routing_rule(session, category=category, lead=dept)
            categories.append(category)
        session.commit()
        places = [
            (
                c,
                [
                    f"{c.name_zh[-3:-2]}{rng.choice('东南西北中')}{k}{e}"
                    for k, e in enumerate(ESTATES * 4)
                ],
            )
            for c in communities
        ]
        refs = [(cat, PROBLEMS[key]) for cat, key in zip(categories, PROBLEMS, strict=True)]
        phones = [f"139{rng.randrange(10**8):08d}" for _ in range(30_000)]
        rows, made = [], 0
        while made < cases:
            community, estates = rng.choice(places)
            category, phrases = rng.choice(refs)
            estate, phrase = rng.choice(estates), rng.choice(phrases)
            at = now - timedelta(days=rng.random() * DAYS)
            rows.append(
                {
                    "workflow": "hotline",
                    "priority": Priority.NORMAL,
                    "title": f"{estate}{phrase}",
                    "description": f"{estate}附近{phrase}，{rng.randint(1, 30)}天了，请尽快处理",
                    "category_id": category.id,
                    "area_id": community.id,
                    "area_path": community.path,
                    "street_id": community.parent_id,
                    "community_id": community.id,
                    "reporter_phone": rng.choice(phones),
                    "source": Source.HOTLINE,
                    "state": CaseState.REPORTED if rng.random() < 0.2 else CaseState.CLOSED,
                    "created_at": at,
                    "updated_at": at,
                    "version": 1,
                }
            )
            made += 1
            if len(rows) == 5_000 or made == cases:
                session.execute(insert(Case), rows)
                session.commit()
                rows = []
        return {
            "district": district,
            "communities": communities,
            "places": places,
            "refs": refs,
            "phones": phones,
            "sessions": sessions,
            "engine": engine,
        }


def measure(url: str, *, cases: int, suggestions: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    world = build(url, cases=cases, now=now)
    out: dict[str, Any] = {"cases": cases, "build_s": round(time.perf_counter() - started, 1)}
    district = world["district"]
    centre = Actor(role=Role.COMMAND_CENTRE, scope_id=district.id, scope_path=district.path)
    admin = Actor(role=Role.ADMIN)
    rng = random.Random(1)
    with world["sessions"]() as session:
        started = time.perf_counter()
        model = train(session=session, now=now)
        out["train_s"] = round(time.perf_counter() - started, 2)
        out["train_metrics"] = {k: model.metrics.get(k) for k in ("macro_f1", "top3_accuracy")}
        out["train_samples"] = model.samples
        lexicon = Lexicon.default()
        times = []
        for i in range(suggestions + 20):
            community, estates = rng.choice(world["places"])
            _cat, phrases = rng.choice(world["refs"])
            request = SuggestRequest(
                title=f"{rng.choice(estates)}{rng.choice(phrases)}",
                description="请尽快处理",
                area_id=community.id,
                phone=rng.choice(world["phones"]),
            )
            t0 = time.perf_counter()
            suggest_one(session=session, actor=centre, request=request, now=now, lexicon=lexicon)
            if i >= 20:  # the first calls load the model and warm the caches
                times.append((time.perf_counter() - t0) * 1000)
            session.rollback()  # a live request's session ends here too
        times.sort()
        out["suggest_ms"] = {
            "p50": round(statistics.median(times), 1),
            "p99": round(times[int(len(times) * 0.99) - 1], 1),
            "max": round(times[-1], 1),
            "n": len(times),
        }
        start = now - timedelta(days=30)
        t0 = time.perf_counter()
        found = hotspots(session=session, actor=admin, start=start, end=now, top=10)
        out["hotspots_month_s"] = round(time.perf_counter() - t0, 2)
        out["hotspots_found"] = len(found)
    world["engine"].dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--suggestions", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with fresh_database(args.backend) as url:
        result = measure(url, cases=args.cases, suggestions=args.suggestions)
    result |= {
        "backend": args.backend,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
