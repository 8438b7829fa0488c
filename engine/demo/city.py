"""The demo city: a fictional district with its streets, communities, grids, departments,
co-building units, categories with routing rules, and a login for every role.

``build_demo`` makes the city in one transaction. Run again, it adds nothing and gives every demo
account a new password and token (only hashes are stored, so the old ones cannot be shown again).
"""

from __future__ import annotations

import csv
import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.auth import ApiToken, issue_token
from engine.login import PASSWORDS, hash_password
from engine.organisation import service as org
from engine.organisation.models import Account, Category, OrgNode
from engine.uow import committed
from engine.vocabulary import OrgKind, Role

# The shared data sit beside the project (<repo>/../shared/data), or where WHISTLE_SHARED_DATA
# says (a checkout elsewhere, such as a git worktree). Tests and benchmarks find them here too.
SHARED_DATA = Path(
    os.environ.get("WHISTLE_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
TAXONOMY = Path("china/tipdm2020C_category_taxonomy_3level.csv")

DISTRICT = ("QC", "青川区", "Qingchuan District")
# street (zh, en) → its four communities (zh, en)
STREETS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("望江街道", "Wangjiang",
     [("滨江", "Binjiang"), ("临江", "Linjiang"), ("观澜", "Guanlan"), ("翠屏", "Cuiping")]),
    ("柳荫街道", "Liuyin",
     [("柳岸", "Liu'an"), ("荷风", "Hefeng"), ("杏林", "Xinglin"), ("槐荫", "Huaiyin")]),
    ("南湖街道", "Nanhu",
     [("湖光", "Huguang"), ("桃源", "Taoyuan"), ("枫林", "Fenglin"), ("月湾", "Yuewan")]),
    ("北苑街道", "Beiyuan",
     [("苑东", "Yuandong"), ("花园", "Huayuan"), ("松涛", "Songtao"), ("芳草", "Fangcao")]),
    ("东坝街道", "Dongba",
     [("坝河", "Bahe"), ("晨光", "Chenguang"), ("春晖", "Chunhui"), ("红星", "Hongxing")]),
    ("西山街道", "Xishan",
     [("山水", "Shanshui"), ("清泉", "Qingquan"), ("云岭", "Yunling"), ("石桥", "Shiqiao")]),
]  # fmt: skip
GRIDS_PER_COMMUNITY = 2
# code → (zh, en)
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "UM": ("区城管委", "Urban management"),
    "HOUSING": ("区住建委", "Housing and construction"),
    "WATER": ("区水务局", "Water authority"),
    "TRANSPORT": ("区交通委", "Transport"),
    "ENV": ("区生态环境局", "Ecology and environment"),
    "MARKET": ("区市场监管局", "Market regulation"),
    "HEALTH": ("区卫健委", "Health"),
    "EDU": ("区教委", "Education"),
    "CIVIL": ("区民政局", "Civil affairs"),
    "HRSS": ("区人力社保局", "Human resources and social security"),
    "POLICE": ("公安青川分局", "Police"),
    "PLAN": ("规划和自然资源青川分局", "Planning and natural resources"),
    "EMERG": ("区应急管理局", "Emergency management"),
    "CULTURE": ("区文化和旅游局", "Culture and tourism"),
    "AGRI": ("区农业农村局", "Agriculture and rural affairs"),
    "PARKS": ("区园林绿化局", "Parks and greening"),
    "COMMERCE": ("区商务局", "Commerce"),
    "TECH": ("区科技和信息化局", "Science, technology and IT"),
    "DEVREF": ("区发展改革委", "Development and reform"),
    "OFFICE": ("区政府办公室", "District government office"),
}
UNITS = [
    "青川区第一中学", "青川区实验小学", "青川区人民医院", "青川区中医医院", "青川供电公司",
    "青川燃气公司", "青川自来水公司", "青川通信分公司", "青川邮政分局", "青川公交公司",
    "青川区税务局", "青川区法院", "青川区检察院", "青川区消防救援支队", "青川区图书馆",
    "青川区文化馆", "青川区体育中心", "青川职业技术学院", "青川银行支行", "青川农商银行",
    "青川物业服务中心", "青川建设集团", "青川城投公司", "青川环卫集团", "青川园林公司",
    "青川区红十字会", "青川区妇联", "青川区团委", "青川区工商联", "青川区科协",
]  # fmt: skip
# Taxonomy level 1 → (English, lead department); level 2 names with another lead.
LEVEL1: dict[str, tuple[str, str]] = {
    "城乡建设": ("Urban and rural construction", "HOUSING"),
    "交通运输": ("Transport", "TRANSPORT"),
    "党务政务": ("Party and government affairs", "OFFICE"),
    "农村农业": ("Agriculture and rural affairs", "AGRI"),
    "劳动和社会保障": ("Labour and social security", "HRSS"),
    "卫生计生": ("Health and family planning", "HEALTH"),
    "商贸旅游": ("Commerce and tourism", "COMMERCE"),
    "国土资源": ("Land and resources", "PLAN"),
    "政法": ("Public security and justice", "POLICE"),
    "教育文体": ("Education, culture and sports", "EDU"),
    "民政": ("Civil affairs", "CIVIL"),
    "环境保护": ("Environmental protection", "ENV"),
    "科技与信息产业": ("Science, technology and IT", "TECH"),
    "纪检监察": ("Discipline inspection", "OFFICE"),
    "经济管理": ("Economic management", "DEVREF"),
}
LEVEL2_LEADS: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("城乡建设", "城市建设和市政管理"): ("UM", ["WATER"]),
    ("城乡建设", "城乡规划"): ("PLAN", []),
    ("城乡建设", "安全生产"): ("EMERG", []),
    ("经济管理", "安全生产"): ("EMERG", []),
    ("卫生计生", "食品药品监管"): ("MARKET", ["HEALTH"]),
    ("商贸旅游", "市场监管"): ("MARKET", []),
    ("商贸旅游", "质监检验检疫"): ("MARKET", []),
    ("商贸旅游", "旅游管理"): ("CULTURE", []),
    ("教育文体", "文化"): ("CULTURE", []),
    ("教育文体", "文物管理"): ("CULTURE", []),
    ("教育文体", "体育"): ("CULTURE", []),
    ("农村农业", "林业管理"): ("PARKS", []),
    ("农村农业", "水利水电"): ("WATER", []),
    ("政法", "法律服务"): ("OFFICE", ["POLICE"]),
}
# English names of the level-2 categories this module knows; a level-2 name of a taxonomy file
# without one is named in English by its parent and its place there ("Transport, item 3").
LEVEL2_EN: dict[str, str] = {
    "其他": "Other",
    "城市建设和市政管理": "Urban construction and municipal management",
    "城乡规划": "Urban and rural planning",
    "安全生产": "Work safety",
    "食品药品监管": "Food and drug supervision",
    "市场监管": "Market supervision",
    "质监检验检疫": "Quality inspection and quarantine",
    "旅游管理": "Tourism management",
    "文化": "Culture",
    "文物管理": "Cultural heritage",
    "体育": "Sports",
    "林业管理": "Forestry",
    "水利水电": "Water conservancy and hydropower",
    "法律服务": "Legal services",
}

TOKEN_NAME = "demo"


@dataclass(frozen=True)
class DemoLogin:
    """One demo account with its credentials, as printed and as written to the accounts JSON."""

    username: str
    role: Role
    scope: str | None  # the org code it acts for
    scope_name: str
    password: str
    token: str

    def as_json(self) -> dict[str, str | None]:
        return {
            "username": self.username,
            "role": str(self.role),
            "scope": self.scope,
            "password": self.password,
            "token": self.token,
        }


@dataclass
class DemoCity:
    """What ``build_demo`` made or found, and the fresh logins."""

    district_id: int
    created: bool  # False: it was there already and only the credentials were renewed
    logins: list[DemoLogin] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def category_code(*names: str) -> str:
    """A stable code for a taxonomy entry (its level-1 name, and level-2 name if any)."""
    digest = hashlib.sha1("\x1f".join(names).encode("utf-8")).hexdigest()[:8]
    return f"TAX{len(names)}-{digest}"


def read_taxonomy(path: Path) -> list[tuple[str, str]]:
    """The distinct (level 1, level 2) pairs of the taxonomy, in file order."""
    seen: dict[tuple[str, str], None] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            if len(row) >= 2 and row[0].strip() and row[1].strip():
                seen[(row[0].strip(), row[1].strip())] = None
    return list(seen)


def builtin_taxonomy() -> list[tuple[str, str]]:
    """Level-1 categories with a general level 2, when the taxonomy file is not at hand."""
    pairs = [(l1, "其他") for l1 in LEVEL1]
    return pairs + list(LEVEL2_LEADS)


class _Builder:
    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self.nodes: dict[str, OrgNode] = {}

    def node(self, kind: OrgKind, code: str, zh: str, en: str, parent: OrgNode | None) -> OrgNode:
        made = org.create_node(
            self.session, kind=kind, code=code, name_zh=zh, name_en=en, parent=parent
        )
        self.nodes[code] = made
        return made

    def tree(self) -> OrgNode:
        code, zh, en = DISTRICT
        district = self.node(OrgKind.DISTRICT, code, zh, en, None)
        communities = []
        for s, (street_zh, street_en, comms) in enumerate(STREETS, start=1):
            street = self.node(OrgKind.STREET, f"{code}-S{s}", street_zh, f"{street_en} Street",
                               district)  # fmt: skip
            for c, (comm_zh, comm_en) in enumerate(comms, start=1):
                community = self.node(OrgKind.COMMUNITY, f"{street.code}-C{c}", f"{comm_zh}社区",
                                      f"{comm_en} Community", street)  # fmt: skip
                communities.append(community)
                for g in range(1, GRIDS_PER_COMMUNITY + 1):
                    self.node(OrgKind.GRID, f"{community.code}-G{g}", f"{comm_zh}第{g}网格",
                              f"{comm_en} grid {g}", community)  # fmt: skip
        for dept, (zh_name, en_name) in DEPARTMENTS.items():
            self.node(OrgKind.DEPARTMENT, f"{code}-D-{dept}", zh_name, en_name, district)
        for u, unit_zh in enumerate(UNITS, start=1):
            unit = self.node(OrgKind.UNIT, f"{code}-U{u:02d}", unit_zh, f"Unit {u:02d}", district)
            # Each unit reports to two communities (双报到): its own and one across the district.
            for index in ((u - 1) % len(communities), (u + 10) % len(communities)):
                org.register_unit(self.session, unit=unit, community=communities[index],
                                  now=self.now)  # fmt: skip
        return district

    def department(self, key: str) -> OrgNode:
        return self.nodes[f"{DISTRICT[0]}-D-{key}"]

    def categories(self, pairs: Iterable[tuple[str, str]]) -> None:
        level1: dict[str, Category] = {}
        children: dict[str, int] = {}
        for l1, l2 in pairs:
            parent = level1.get(l1)
            if parent is None:
                en = LEVEL1.get(l1, (f"Category {len(level1) + 1}", "OFFICE"))[0]
                parent = level1[l1] = self._category(category_code(l1), l1, en, None)
                lead = LEVEL1.get(l1, ("", "OFFICE"))[1]
                self._rule(parent, lead, [])
            children[l1] = children.get(l1, 0) + 1
            # English pages carry no Chinese: a name we cannot translate is named by its place.
            en = LEVEL2_EN.get(l2, f"{parent.name_en}, item {children[l1]}")
            child = self._category(category_code(l1, l2), l2, f"{parent.name_en}: {en}", parent)
            override = LEVEL2_LEADS.get((l1, l2))
            if override is not None:
                self._rule(child, *override)

    def _category(self, code: str, zh: str, en: str, parent: Category | None) -> Category:
        found = self.session.scalar(select(Category).where(Category.code == code))
        if found is not None:
            return found
        return org.create_category(self.session, code=code, name_zh=zh, name_en=en, parent=parent)

    def _rule(self, category: Category, lead: str, assisting: list[str]) -> None:
        org.add_routing_rule(
            self.session, category=category, lead=self.department(lead),
            assisting=[self.department(a) for a in assisting],
            area=self.nodes[DISTRICT[0]],
        )  # fmt: skip


def account_plan(session: Session, district: OrgNode) -> list[tuple[str, Role, OrgNode | None]]:
    """Every demo account: (username, role, scope node)."""
    code = district.code
    nodes = {
        n.code: n
        for n in session.scalars(select(OrgNode).where(OrgNode.path.startswith(district.path)))
    }
    plan: list[tuple[str, Role, OrgNode | None]] = [
        ("admin", Role.ADMIN, None),
        ("assessor", Role.ASSESSOR, district),
        ("cc-district", Role.COMMAND_CENTRE, district),
    ]
    for s, (_zh, _en, comms) in enumerate(STREETS, start=1):
        plan.append((f"cc-s{s}", Role.COMMAND_CENTRE, nodes[f"{code}-S{s}"]))
        for c in range(1, len(comms) + 1):
            plan.append((f"grid-s{s}-c{c}", Role.GRID, nodes[f"{code}-S{s}-C{c}"]))
    for dept in DEPARTMENTS:
        plan.append((f"dept-{dept.lower()}", Role.DEPARTMENT, nodes[f"{code}-D-{dept}"]))
    for u in range(1, len(UNITS) + 1):
        plan.append((f"unit-{u:02d}", Role.UNIT, nodes[f"{code}-U{u:02d}"]))
    plan += [("resident-1", Role.RESIDENT, None), ("resident-2", Role.RESIDENT, None)]
    return plan


def _issue_logins(
    session: Session, district: OrgNode, now: datetime, hasher: PasswordHasher
) -> list[DemoLogin]:
    """Create or renew every demo account: a new password and a new token (old ones revoked)."""
    logins = []
    for username, role, scope in account_plan(session, district):
        account = session.scalar(select(Account).where(Account.username == username))
        if account is None:
            account = org.create_account(
                session, username=username, role=role, scope=scope, now=now,
                display_name=scope.name_zh if scope is not None else username,
            )  # fmt: skip
        session.execute(
            update(ApiToken)
            .where(ApiToken.account_id == account.id, ApiToken.name == TOKEN_NAME,
                   ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )  # fmt: skip
        password = secrets.token_urlsafe(12)
        account.password_hash = hash_password(password, hasher=hasher)
        token = issue_token(session, account_id=account.id, now=now, name=TOKEN_NAME)
        logins.append(
            DemoLogin(username, role, scope.code if scope else None,
                      scope.name_zh if scope else "", password, token)
        )  # fmt: skip
    return logins


def build_demo(
    *,
    session: Session,
    now: datetime,
    data_dir: Path = SHARED_DATA,
    hasher: PasswordHasher = PASSWORDS,
) -> DemoCity:
    """Make the demo city (or find it) and issue fresh logins for every demo account; commit."""
    try:
        district = session.scalar(select(OrgNode).where(OrgNode.code == DISTRICT[0]))
        city = DemoCity(district_id=0, created=district is None)
        if district is None:
            builder = _Builder(session, now)
            district = builder.tree()
            taxonomy = data_dir / TAXONOMY
            if taxonomy.is_file():
                pairs = read_taxonomy(taxonomy)
            else:
                pairs = builtin_taxonomy()
                city.notes.append(f"no taxonomy at {taxonomy}: built-in categories used")
            builder.categories(pairs)
        elif district.kind != OrgKind.DISTRICT:
            raise ValueError(f"the code '{DISTRICT[0]}' belongs to a {district.kind}")
        city.district_id = district.id
        with committed(session):
            city.logins = _issue_logins(session, district, now, hasher)
    except BaseException:
        session.rollback()
        raise
    return city
