"""Possible duplicates measured on the TipDM hot-issue messages (4,326 rows), with pairs labelled
by stated rules, independent of the scorer.

    .venv/bin/python -m bench.insight_duplicates [--data ../shared/data] [--json out.json]

The messages carry no area ids or coordinates, only a district in their text ("A2区"), a user
id and a time. So the measure is of the scorer's text test at one place, and of the caller test:

* Candidate pairs: two messages of the same district (the first ``A<n>区`` of subject + details)
  taken in at most 30 days apart (the scorer's window), each given to ``duplicates.score`` as
  probe and candidate at the same community (``area_depth`` 2, the same ``area_path``), the
  user id standing in for the caller's phone.
* Gold label, by these rules and nothing else (no reading by the scorer, no tuning to them):
  a pair is a duplicate when both messages name the same place — a phrase of 2–12 Chinese
  letters or digits ending in one of 小区 花园 苑 城 公寓 大厦 广场 学校 中学 小学 幼儿园 医院
  市场 村 社区 路 街 大道 公司 项目 (the longest such phrase of each subject, or of its details
  when the subject has none) — and share at least one problem word of the same group in
  ``PROBLEMS`` (noise, cooking fumes, water, power, property management, demolition, building
  quality, traffic and parking, school fees, construction, rubbish, smells); or when the same
  user wrote both about the same named place.
* Predicted: ``score`` returns a duplicate. Reported: precision, recall and F1 over every
  candidate pair, and at a few score thresholds. No message text is printed or stored.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.insight.duplicates import WINDOW, Candidate, Probe, score

HOT = "china/tipdm2020C_hot_issue_messages_4326.csv.gz"
DISTRICT = re.compile(r"[A-Z]\d{1,2}区")
PLACE = re.compile(
    r"[\u4e00-\u9fa5A-Za-z0-9]{2,12}?(?:小区|花园|苑|城|公寓|大厦|广场|学校|中学|小学|幼儿园|医院|"
    r"市场|村|社区|路|街|大道|公司|项目)"
)
_LEAD = re.compile(
    r"[A-Z]\d{1,2}区|A市|市|区|街道|镇|乡|关于|关注|解决|反映|投诉|举报|请求|建议|咨询|要求|在|于|的"
)
_SPACE = re.compile(r"[\s，。！？、,.!?：:；;（）()“”\"']+")
PROBLEMS = {
    "noise": ("噪音", "噪声", "吵"),
    "fumes": ("油烟", "烧烤"),
    "water": ("停水", "自来水", "水压", "漏水", "供水"),
    "power": ("停电", "供电", "电压"),
    "property": ("物业", "业委会", "物业费"),
    "demolition": ("拆迁", "征地", "补偿", "安置"),
    "building": ("质量", "开裂", "渗水", "交房", "延期交房", "房产证", "不动产"),
    "traffic": ("交通", "停车", "红绿灯", "公交", "道路", "堵"),
    "school": ("学校", "学位", "入学", "补课", "收费"),
    "construction": ("施工", "工地", "渣土"),
    "rubbish": ("垃圾", "卫生", "污水", "排污"),
    "smell": ("臭", "异味", "气味", "污染"),
}


def load(data: Path) -> list[dict[str, Any]]:
    with gzip.open(data / HOT, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    out = []
    for r in rows:
        text = f"{r[2]} {r[4]}"
        district = DISTRICT.search(text)
        out.append(
            {
                "id": int(r[0]),
                "user": r[1],
                "title": r[2],
                "details": r[4],
                "at": datetime.fromisoformat(r[3].strip().replace("/", "-")),
                "district": district[0] if district else "",
                "place": _place(r[2], r[4]),
                "words": _words(text),
            }
        )
    return out


def _place(title: str, details: str) -> str | None:
    for text in (title, details[:200]):
        found = [_bare(m) for m in PLACE.findall(text)]
        found = [f for f in found if len(f) >= 3]
        if found:
            return max(found, key=len)
    return None


def _bare(phrase: str) -> str:
    """The place name alone: what follows the last district, city, street or verb marker."""
    return _LEAD.split(phrase)[-1]


def _words(text: str) -> set[str]:
    return {w for words in PROBLEMS.values() for w in words if w in text}


def gold(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The stated rule: the same subject, or the same named place and a shared problem word (or
    the same user writing about the same named place)."""
    if _SPACE.sub("", a["title"]) == _SPACE.sub("", b["title"]):
        return True
    if a["place"] is None or a["place"] != b["place"]:
        return False
    return bool(a["words"] & b["words"]) or a["user"] == b["user"]


def pairs(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    by_district: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["district"]:
            by_district[row["district"]].append(row)
    out = []
    for block in by_district.values():
        block.sort(key=lambda r: r["at"])
        for i, a in enumerate(block):
            for b in block[i + 1 :]:
                if b["at"] - a["at"] > WINDOW:
                    break
                out.append((a, b))
    return out


def predicted(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    probe = Probe(b["title"], b["details"], f"/{b['district']}/", 2, None, None, b["user"])
    found = score(
        probe,
        Candidate(
            a["id"],
            a["title"],
            a["details"],
            f"/{a['district']}/",
            "reported",
            a["at"],
            None,
            None,
            a["user"],
        ),
    )
    return found.score if found is not None else None


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": round(p, 3),
        "recall": round(r, 3),
        "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = load(args.data)
    candidates = pairs(rows)
    labelled = [(gold(a, b), predicted(a, b)) for a, b in candidates]
    positives = sum(g for g, _ in labelled)
    print(
        f"{len(rows)} messages, {sum(1 for r in rows if r['district'])} with a district, "
        f"{sum(1 for r in rows if r['place'])} with a named place; {len(candidates)} candidate "
        f"pairs (same district, ≤ {WINDOW.days} days), {positives} duplicates by the rule"
    )
    result: dict[str, Any] = {"messages": len(rows), "pairs": len(candidates), "gold": positives}
    for threshold in (0.0, 0.6, 0.7, 0.8):
        tp = sum(1 for g, s in labelled if g and s is not None and s >= threshold)
        fp = sum(1 for g, s in labelled if not g and s is not None and s >= threshold)
        fn = positives - tp
        result[f"at_{threshold}"] = _prf(tp, fp, fn)
        m = result[f"at_{threshold}"]
        print(
            f"  score ≥ {threshold:.1f}: precision {m['precision']:.3f} · recall "
            f"{m['recall']:.3f} · F1 {m['f1']:.3f} (tp {tp}, fp {fp}, fn {fn})"
        )
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
