"""What the demo history's cases say: kinds of case, each with the category it is filed under,
how often residents raise it, and the shapes of its title, details and the department's reply,
in Chinese and in English.

Our own wording (no data from elsewhere). ``{place}`` is the community and ``{n}`` a building
number, so the same shape reads as a different case in each place.
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
    """One kind of case: its category (taxonomy level 1 and 2), its share, its texts."""

    level1: str
    level2: str
    weight: float
    title: Text
    details: Text
    reply: Text


def _t(category: str, weight: float, title: tuple[str, str], details: tuple[str, str],
       reply: tuple[str, str]) -> Template:  # fmt: skip
    level1, level2 = category.split("/")
    return Template(level1, level2, weight, Text(*title), Text(*details), Text(*reply))


# fmt: off
TEMPLATES: list[Template] = [
    _t("城乡建设/城市建设和市政管理", 9,
       ("{place}{n}号楼前路灯不亮", "Street lights out at building {n}, {place}"),
       ("{place}{n}号楼前的路灯连续几晚不亮，夜间出行不便。",
        "The lights before building {n} in {place} have been out for nights."),
       ("已安排维修，更换灯具，恢复照明。", "Repaired: the lamps were replaced and work again.")),
    _t("城乡建设/城市建设和市政管理", 6,
       ("{place}{n}号楼旁井盖破损", "Broken manhole cover by building {n}, {place}"),
       ("{place}{n}号楼旁道路井盖破损，车辆经过有危险。",
        "A manhole cover next to building {n} in {place} is broken and dangerous."),
       ("已更换井盖并设置警示标志。", "The cover was replaced and the spot signposted.")),
    _t("城乡建设/城市建设和市政管理", 6,
       ("{place}垃圾清运不及时", "Rubbish left uncollected in {place}"),
       ("{place}{n}号楼垃圾桶已满两天无人清运，气味很大。",
        "The bins at building {n} in {place} have been full for two days and smell."),
       ("已督促环卫单位清运，并增加清运频次。", "Collected; collections are now more frequent.")),
    _t("城乡建设/城市建设和市政管理", 4,
       ("{place}{n}号楼突然停水", "No water at building {n}, {place}"),
       ("{place}{n}号楼从早上开始停水，没有任何通知。",
        "Building {n} in {place} has had no water since the morning, without notice."),
       ("管道抢修完毕，已恢复供水。", "The main was repaired; water is back.")),
    _t("城乡建设/住房保障与房地产", 6,
       ("{place}{n}号楼电梯故障", "Lift out of order at building {n}, {place}"),
       ("{place}{n}号楼电梯频繁停运，老人上下楼困难。",
        "The lift of building {n} in {place} keeps stopping; the old are stuck."),
       ("已督促物业联系维保单位检修，电梯恢复运行。",
        "The property manager had the lift serviced; it runs again.")),
    _t("城乡建设/安全生产", 4,
       ("{place}{n}号楼楼道堆物", "Stairwell blocked at building {n}, {place}"),
       ("{place}{n}号楼楼道内长期堆放纸箱和旧家具，存在消防隐患。",
        "Boxes and old furniture block the stairs of building {n} in {place}: a fire risk."),
       ("已联系物业清理并张贴告示。", "The property manager cleared it and put up a notice.")),
    _t("城乡建设/城乡规划", 3,
       ("{place}{n}号楼违建影响采光", "Illegal extension at building {n}, {place}"),
       ("{place}{n}号楼一层住户私搭违建，影响楼上采光。",
        "A ground-floor extension at building {n} in {place} blocks the light above."),
       ("已下达整改通知，违建已拆除。", "An order was served; the extension was removed.")),
    _t("环境保护/环境污染", 7,
       ("{place}附近夜间施工噪音扰民", "Night-time building noise near {place}"),
       ("{place}附近工地每晚十一点后仍在施工，噪音很大。",
        "A building site near {place} keeps working after 11 pm and is very loud."),
       ("已责令施工单位夜间停工，并加强巡查。",
        "The builder was ordered to stop at night; patrols were stepped up.")),
    _t("环境保护/环境污染", 4,
       ("{place}{n}号楼底商油烟扰民", "Restaurant fumes at building {n}, {place}"),
       ("{place}{n}号楼底商餐馆油烟直排，影响居民开窗。",
        "A restaurant under building {n} in {place} vents fumes at the windows."),
       ("已要求商户安装油烟净化设备并定期清洗。",
        "The restaurant was told to fit a fume filter and clean it regularly.")),
    _t("交通运输/交通运输", 4,
       ("{place}附近公交站牌信息错误", "Wrong bus stop sign near {place}"),
       ("{place}附近公交站牌线路信息未更新，乘客容易坐错车。",
        "The bus stop sign near {place} still shows routes that changed."),
       ("已更新站牌信息。", "The sign now shows the current routes.")),
    _t("政法/交通管理", 5,
       ("{place}{n}号楼外路口占道停车", "Cars block the crossing at building {n}, {place}"),
       ("{place}{n}号楼外路口长期有车辆占道停放，影响通行。",
        "Cars block the crossing outside building {n} in {place} every day."),
       ("已联合交警清理，并施划禁停标线。",
        "Cleared with the traffic police; no-parking lines were painted.")),
    _t("政法/社会治安", 4,
       ("{place}{n}号楼下夜间聚集喧哗", "Late-night crowds at building {n}, {place}"),
       ("{place}{n}号楼下夜间经常有人聚集喧哗，影响休息。",
        "People gather and shout under building {n} in {place} late at night."),
       ("已加强夜间巡逻并劝导。", "Night patrols were added and the group was spoken to.")),
    _t("劳动和社会保障/工资福利", 5,
       ("{place}居民反映被拖欠工资", "Unpaid wages: a resident of {place}"),
       ("{place}一名居民反映在附近工地务工三个月未领到工资。",
        "A resident of {place} has not been paid for three months on a site."),
       ("已约谈用工单位，工资已足额发放。", "The employer was summoned; the wages were paid.")),
    _t("劳动和社会保障/城镇职工社会保险", 3,
       ("{place}居民社保转移办理慢", "Slow pension transfer: a resident of {place}"),
       ("{place}居民反映社保关系转移申请两个月仍未办结。",
        "A resident of {place} has waited two months for a pension transfer."),
       ("已协调办理完毕并电话告知居民。", "Completed; the resident was told by phone.")),
    _t("卫生计生/医政监管", 3,
       ("{place}社区卫生站排队时间长", "Long queues at the {place} clinic"),
       ("{place}社区卫生服务站上午排队时间过长，老人等候困难。",
        "Mornings at the {place} community clinic mean long waits for older residents."),
       ("已增加上午门诊人员并开通预约。", "More morning staff were added and booking opened.")),
    _t("卫生计生/食品药品监管", 3,
       ("{place}附近超市出售过期食品", "Food past its date sold near {place}"),
       ("{place}{n}号楼附近超市出售过期食品。",
        "A shop near building {n} in {place} sells food past its date."),
       ("已现场检查，下架过期商品并依法处理。",
        "Inspected: expired goods were removed and the shop was fined.")),
    _t("商贸旅游/市场监管", 3,
       ("{place}附近商户未明码标价", "Unmarked prices near {place}"),
       ("{place}{n}号楼附近商户未明码标价，结账时随意要价。",
        "A shop near building {n} in {place} marks no prices and charges as it likes."),
       ("已责令商户明码标价。", "The shop was ordered to mark its prices.")),
    _t("教育文体/教育收费", 3,
       ("{place}附近幼儿园收费不透明", "Unclear kindergarten fees near {place}"),
       ("{place}附近幼儿园未公开收费标准，家长希望公开明细。",
        "A kindergarten near {place} publishes no fees; parents ask for the details."),
       ("已督促幼儿园公示收费标准。", "The kindergarten now posts its fees.")),
    _t("教育文体/体育", 2,
       ("{place}{n}号楼旁健身器材损坏", "Broken fitness equipment at building {n}, {place}"),
       ("{place}{n}号楼旁健身器材损坏，存在安全隐患。",
        "The fitness equipment beside building {n} in {place} is broken and unsafe."),
       ("已维修更换损坏器材。", "The broken equipment was repaired or replaced.")),
    _t("民政/社会服务", 3,
       ("{place}独居老人申请助餐", "Meal help for an older resident of {place}"),
       ("{place}{n}号楼独居老人希望享受社区助餐服务。",
        "An older resident living alone in building {n}, {place} asks for meal help."),
       ("已为老人办理助餐服务。", "Meal help was arranged.")),
    _t("农村农业/林业管理", 2,
       ("{place}{n}号楼前树木需修剪", "Trees to prune at building {n}, {place}"),
       ("{place}{n}号楼前树木遮挡窗户，枝条触碰电线。",
        "Trees before building {n} in {place} block windows and touch wires."),
       ("已安排修剪。", "The trees were pruned.")),
    _t("党务政务/其他", 2,
       ("{place}居民咨询居住证办理", "Residence permit: a resident of {place} asks"),
       ("{place}居民咨询居住证办理流程和所需材料。",
        "A resident of {place} asks how to get a residence permit and what to bring."),
       ("已电话告知办理流程和材料清单。", "The steps and papers were explained by phone.")),
    _t("科技与信息产业/电信", 1,
       ("{place}{n}号楼手机信号差", "Poor mobile signal at building {n}, {place}"),
       ("{place}{n}号楼内手机信号差，经常无法通话。",
        "Inside building {n} in {place} phones often cannot make calls."),
       ("已协调运营商增设基站。", "The operator added a base station.")),
    _t("纪检监察/干部作风", 1,
       ("{place}居民反映窗口人员态度差", "A resident of {place} reports a rude clerk"),
       ("{place}居民反映窗口工作人员态度生硬。",
        "A resident of {place} says a counter clerk was rude."),
       ("已核实并对相关人员批评教育。", "Checked; the clerk was reprimanded.")),
]
# fmt: on
OBJECTION = Text("不属于本部门职责", "Not this department's remit")
UPHELD = Text("经核实确不属于该部门职责，重新派单", "Confirmed outside its remit; dispatched again")
CANCELLED = Text("重复来电，已合并答复", "A repeated call, answered with the first")
