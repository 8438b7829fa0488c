"""The console's words in zh-CN (the default) and English.

Each page module keeps its own catalogue, ``{key: (zh, en)}``, and registers it here at import;
a key defined twice is an error at start-up, not a page that shows the wrong word. Names of
states, triggers and clocks come from the workflow files, which carry both languages already.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

_CATALOGUE: dict[str, tuple[str, str]] = {}


def register(messages: Mapping[str, tuple[str, str]]) -> None:
    """Add a page module's messages; every key may be defined once."""
    clash = sorted(set(messages) & set(_CATALOGUE))
    if clash:
        raise ValueError(f"console messages defined twice: {', '.join(clash)}")
    _CATALOGUE.update(messages)


def pick_lang(value: str | None) -> str:
    """A supported language from a cookie or form value (the default otherwise)."""
    return value if value in LANGS else DEFAULT_LANG


def translate(key: str, lang: str, **values: object) -> str:
    """The message in ``lang`` with ``{name}`` placeholders filled; an unknown key shows as is."""
    pair = _CATALOGUE.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**values) if values else text


def known(key: str) -> bool:
    """Whether a message key is defined (tests check templates use only defined keys)."""
    return key in _CATALOGUE


register(
    {
        "app.name": ("吹哨报到 · 接诉即办", "Whistle"),
        "app.tagline": (
            "街乡吹哨、部门报到",
            "The street blows the whistle, departments report in",
        ),
        "nav.main": ("主导航", "Main navigation"),
        "nav.board": ("工单看板", "Case board"),
        "nav.intake": ("受理登记", "New case"),
        "nav.overdue": ("超期督办", "Overdue"),
        "nav.approvals": ("待审批", "Approvals"),
        "nav.statistics": ("统计分析", "Statistics"),
        "nav.tasks": ("待办任务", "Task inbox"),
        "nav.notifications": ("消息通知", "Notifications"),
        "nav.evaluation": ("考核评价", "Evaluation"),
        "nav.workflows": ("流程图", "Workflows"),
        "nav.skip": ("跳到正文", "Skip to content"),
        "lang.label": ("语言", "Language"),
        "lang.switch": ("English", "中文"),
        "auth.title": ("登录", "Log in"),
        "auth.username": ("用户名", "Username"),
        "auth.password": ("密码", "Password"),
        "auth.submit": ("登录", "Log in"),
        "auth.logout": ("退出登录", "Log out"),
        "auth.failed": ("用户名或密码错误。", "The username or password is wrong."),
        "auth.throttled": (
            "登录尝试过多，请稍后再试。",
            "Too many login attempts; try again later.",
        ),
        "auth.unavailable": (
            "登录服务暂时不可用，请稍后再试。",
            "Logging in is paused for a moment; please try again shortly.",
        ),
        "auth.expired": (
            "登录已过期，请重新登录。",
            "Your session has ended; please log in again.",
        ),
        "auth.signed_in_as": ("当前用户", "Signed in as"),
        "auth.logged_out": ("已退出登录。", "You have logged out."),
        "error.title": ("出错了", "Something went wrong"),
        "error.404": ("未找到该页面或工单。", "Not found."),
        "error.403": ("无权进行此操作。", "Not allowed for your role or area."),
        "error.csrf": (
            "表单已失效，请刷新页面后重试。",
            "The form has expired; reload the page and try again.",
        ),
        "error.409": (
            "操作冲突：数据已变化或当前状态不允许。",
            "Conflict: the data has changed, or the move is not allowed now.",
        ),
        "error.422": ("输入有误。", "The input is not valid."),
        "error.500": ("系统内部错误，请稍后再试。", "Internal error; please try again later."),
        "error.back": ("返回首页", "Back to the start page"),
        "role.admin": ("管理员", "Administrator"),
        "role.command_centre": ("指挥中心", "Command centre"),
        "role.department": ("职能部门", "Department"),
        "role.unit": ("共建单位", "Co-building unit"),
        "role.grid": ("网格员", "Grid worker"),
        "role.resident": ("居民", "Resident"),
        "role.assessor": ("考核办", "Assessor"),
        "role.system": ("系统", "System"),
        "priority.emergency": ("紧急", "Emergency"),
        "priority.urgent": ("加急", "Urgent"),
        "priority.normal": ("一般", "Normal"),
        "priority.complex": ("疑难", "Complex"),
        "time.overdue_by": ("已超期 {span}", "overdue by {span}"),
        "time.left": ("剩余 {span}", "{span} left"),
        "time.days": ("{n}天", "{n} d"),
        "time.hours": ("{n}小时", "{n} h"),
        "time.minutes": ("{n}分钟", "{n} min"),
        "common.none": ("无", "none"),
        "common.save": ("保存", "Save"),
        "common.cancel": ("取消", "Cancel"),
        "common.search": ("搜索", "Search"),
        "common.prev": ("上一页", "Previous"),
        "common.next": ("下一页", "Next"),
        "common.page": (
            "第 {page} 页，共 {pages} 页（{total} 条）",
            "Page {page} of {pages} ({total})",
        ),
        "common.done": ("操作成功。", "Done."),
    }
)
