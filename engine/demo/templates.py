"""What the demo history's cases say: per top-level category, the shapes of a title, its details
and the department's reply, in Chinese and in English, and how often residents raise each.

Our own wording (no data from elsewhere). ``{place}`` is the community (and, in details, a
building number ``{n}``), so the same shape reads as a different case in each place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    """One text in both languages."""

    zh: str
    en: str

    def of(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True, slots=True)
class Template:
    """The shape of one kind of case: title, details and the department's reply."""

    title: Text
    details: Text
    reply: Text


def _t(title: tuple[str, str], details: tuple[str, str], reply: tuple[str, str]) -> Template:
    return Template(Text(*title), Text(*details), Text(*reply))


# Level-1 category name (the demo city's taxonomy) → (its share of the volume, its templates).
TEMPLATES: dict[str, tuple[float, list[Template]]] = {
    "城乡建设": (
        30.0,
        [
            _t(
                ("{place}路灯不亮", "Street lights out in {place}"),
                (
                    "{place}{n}号楼前的路灯连续几晚不亮，夜间出行不便。",
                    "The lights before building {n} in {place} have been out for nights.",
                ),
                (
                    "已安排维修，更换灯具，恢复照明。",
                    "Repaired: the lamps were replaced and work again.",
                ),
            ),
            _t(
                ("{place}小区电梯故障", "Lift out of order in {place}"),
                (
                    "{place}{n}号楼电梯频繁停运，老人上下楼困难。",
                    "The lift of building {n} in {place} keeps stopping; the old are stuck.",
                ),
                (
                    "已督促物业联系维保单位检修，电梯恢复运行。",
                    "The property manager had the lift serviced; it runs again.",
                ),
            ),
            _t(
                ("{place}道路井盖破损", "Broken manhole cover in {place}"),
                (
                    "{place}{n}号楼旁道路井盖破损，车辆经过有危险。",
                    "A manhole cover next to building {n} in {place} is broken and dangerous.",
                ),
                ("已更换井盖并设置警示标志。", "The cover was replaced and the spot signposted."),
            ),
        ],
    ),
    "环境保护": (
        12.0,
        [
            _t(
                ("{place}夜间施工噪音扰民", "Night-time building noise in {place}"),
                (
                    "{place}附近工地每晚十一点后仍在施工，噪音很大。",
                    "A building site near {place} keeps working after 11 pm and is very loud.",
                ),
                (
                    "已责令施工单位夜间停工，并加强巡查。",
                    "The builder was ordered to stop at night; patrols were stepped up.",
                ),
            ),
            _t(
                ("{place}餐馆油烟扰民", "Restaurant fumes in {place}"),
                (
                    "{place}{n}号楼底商餐馆油烟直排，影响居民开窗。",
                    "A restaurant under building {n} in {place} vents fumes at the windows.",
                ),
                (
                    "已要求商户安装油烟净化设备并定期清洗。",
                    "The restaurant was told to fit a fume filter and clean it regularly.",
                ),
            ),
        ],
    ),
    "交通运输": (
        10.0,
        [
            _t(
                ("{place}公交站牌信息错误", "Wrong bus stop sign in {place}"),
                (
                    "{place}附近公交站牌线路信息未更新，乘客容易坐错车。",
                    "The bus stop sign near {place} still shows routes that changed.",
                ),
                ("已更新站牌信息。", "The sign now shows the current routes."),
            ),
            _t(
                ("{place}路口占道停车", "Cars parked across the crossing in {place}"),
                (
                    "{place}{n}号楼外路口长期有车辆占道停放，影响通行。",
                    "Cars block the crossing outside building {n} in {place} every day.",
                ),
                (
                    "已联合交警清理，并施划禁停标线。",
                    "Cleared with the traffic police; no-parking lines were painted.",
                ),
            ),
        ],
    ),
    "劳动和社会保障": (
        8.0,
        [
            _t(
                ("{place}务工人员被拖欠工资", "Unpaid wages reported in {place}"),
                (
                    "{place}一名居民反映在附近工地务工三个月未领到工资。",
                    "A resident of {place} has not been paid for three months on a site.",
                ),
                (
                    "已约谈用工单位，工资已足额发放。",
                    "The employer was summoned; the wages were paid.",
                ),
            ),
            _t(
                ("{place}社保转移办理慢", "Slow pension transfer for a resident of {place}"),
                (
                    "{place}居民反映社保关系转移申请两个月仍未办结。",
                    "A resident of {place} has waited two months for a pension transfer.",
                ),
                ("已协调办理完毕并电话告知居民。", "Completed; the resident was told by phone."),
            ),
        ],
    ),
    "卫生计生": (
        6.0,
        [
            _t(
                ("{place}社区卫生站排队时间长", "Long queues at the {place} clinic"),
                (
                    "{place}社区卫生服务站上午排队时间过长，老人等候困难。",
                    "Mornings at the {place} community clinic mean long waits for older residents.",
                ),
                (
                    "已增加上午门诊人员并开通预约。",
                    "More morning staff were added and appointments opened.",
                ),
            ),
        ],
    ),
    "教育文体": (
        6.0,
        [
            _t(
                ("{place}附近幼儿园收费不透明", "Unclear fees at a kindergarten near {place}"),
                (
                    "{place}附近幼儿园未公开收费标准，家长希望公开明细。",
                    "A kindergarten near {place} publishes no fees; parents ask for the details.",
                ),
                ("已督促幼儿园公示收费标准。", "The kindergarten now posts its fees."),
            ),
            _t(
                ("{place}健身器材损坏", "Broken fitness equipment in {place}"),
                (
                    "{place}{n}号楼旁健身器材损坏，存在安全隐患。",
                    "The fitness equipment beside building {n} in {place} is broken and unsafe.",
                ),
                ("已维修更换损坏器材。", "The broken equipment was repaired or replaced."),
            ),
        ],
    ),
    "商贸旅游": (
        7.0,
        [
            _t(
                ("{place}超市商品过期", "Expired goods at a shop in {place}"),
                (
                    "{place}{n}号楼附近超市出售过期食品。",
                    "A shop near building {n} in {place} sells food past its date.",
                ),
                (
                    "已现场检查，下架过期商品并依法处理。",
                    "Inspected: expired goods were removed and the shop was fined.",
                ),
            ),
        ],
    ),
    "政法": (
        5.0,
        [
            _t(
                ("{place}夜间有人聚集喧哗", "Late-night crowds in {place}"),
                (
                    "{place}{n}号楼下夜间经常有人聚集喧哗，影响休息。",
                    "People gather and shout under building {n} in {place} late at night.",
                ),
                ("已加强夜间巡逻并劝导。", "Night patrols were added and the group was spoken to."),
            ),
        ],
    ),
    "民政": (
        5.0,
        [
            _t(
                ("{place}老人申请助餐服务", "Meal help for an older resident of {place}"),
                (
                    "{place}独居老人希望享受社区助餐服务。",
                    "An older resident living alone in {place} asks for community meal help.",
                ),
                ("已为老人办理助餐服务。", "Meal help was arranged."),
            ),
        ],
    ),
    "国土资源": (
        3.0,
        [
            _t(
                ("{place}违建影响采光", "Illegal extension blocks light in {place}"),
                (
                    "{place}{n}号楼一层住户私搭违建，影响楼上采光。",
                    "A ground-floor extension at building {n} in {place} blocks the light above.",
                ),
                ("已下达整改通知，违建已拆除。", "An order was served; the extension was removed."),
            ),
        ],
    ),
    "农村农业": (
        2.0,
        [
            _t(
                ("{place}绿地树木需修剪", "Trees to prune in {place}"),
                (
                    "{place}{n}号楼前树木遮挡窗户，枝条触碰电线。",
                    "Trees before building {n} in {place} block windows and touch wires.",
                ),
                ("已安排修剪。", "The trees were pruned."),
            ),
        ],
    ),
    "党务政务": (
        2.0,
        [
            _t(
                ("{place}居民咨询办事流程", "A resident of {place} asks how to apply"),
                (
                    "{place}居民咨询居住证办理流程和所需材料。",
                    "A resident of {place} asks how to get a residence permit and what to bring.",
                ),
                ("已电话告知办理流程和材料清单。", "The steps and papers were explained by phone."),
            ),
        ],
    ),
    "经济管理": (
        2.0,
        [
            _t(
                ("{place}商户价格不明", "Unmarked prices at a shop in {place}"),
                ("{place}附近商户未明码标价。", "A shop near {place} marks no prices."),
                ("已责令商户明码标价。", "The shop was ordered to mark its prices."),
            ),
        ],
    ),
    "科技与信息产业": (
        1.0,
        [
            _t(
                ("{place}手机信号差", "Poor mobile signal in {place}"),
                (
                    "{place}{n}号楼内手机信号差，经常无法通话。",
                    "Inside building {n} in {place} phones often cannot make calls.",
                ),
                ("已协调运营商增设基站。", "The operator added a base station."),
            ),
        ],
    ),
    "纪检监察": (
        1.0,
        [
            _t(
                ("{place}居民反映办事人员态度差", "A resident of {place} reports a rude clerk"),
                (
                    "{place}居民反映窗口工作人员态度生硬。",
                    "A resident of {place} says a counter clerk was rude.",
                ),
                ("已核实并对相关人员批评教育。", "Checked; the clerk was reprimanded."),
            ),
        ],
    ),
}
# For a top-level category the table does not name (a taxonomy file of another city).
GENERAL = (
    1.0,
    [
        _t(
            ("{place}居民诉求", "A request from {place}"),
            (
                "{place}{n}号楼居民反映的问题需要相关部门处理。",
                "A resident of building {n} in {place} raises a matter for the department.",
            ),
            ("已处理并回复居民。", "Handled; the resident was answered."),
        ),
    ],
)
OBJECTION = Text("不属于本部门职责", "Not this department's remit")
UPHELD = Text("经核实确不属于该部门职责，重新派单", "Confirmed outside its remit; dispatched again")
CANCELLED = Text("重复来电，已合并答复", "A repeated call, answered with the first")
