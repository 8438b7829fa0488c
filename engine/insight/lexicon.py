"""The urgency lexicon: words that propose a higher priority, and which words did.

The default covers what a 12345 centre treats as an emergency on sight (gas, fire, collapse,
electrocution, flooding, people trapped) in Chinese and English. A deployment replaces or extends
it with a YAML file (``WHISTLE_URGENCY_LEXICON``): ``{emergency: [...], urgent: [...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from engine.errors import InvalidInput
from engine.insight.text import normalise
from engine.vocabulary import Priority

DEFAULT_TERMS: Mapping[Priority, tuple[str, ...]] = {
    Priority.EMERGENCY: (
        "燃气泄漏", "煤气泄漏", "天然气泄漏", "漏气", "火灾", "着火", "起火", "失火", "爆炸",
        "坍塌", "倒塌", "塌陷", "触电", "漏电", "被困", "困在电梯", "溺水", "中毒", "危及生命",
        "gas leak", "fire", "explosion", "collapse", "collapsed", "electrocution",
        "live wire", "trapped", "drowning", "poisoning",
    ),
    Priority.URGENT: (
        "停水", "停电", "断水", "断电", "暖气不热", "没有暖气", "积水", "内涝", "井盖丢失",
        "井盖缺失", "树木倒伏", "电线脱落", "危房", "外墙脱落", "高空坠物", "污水外溢", "冒水",
        "no water", "no power", "power outage", "flooding", "flooded", "missing manhole",
        "fallen tree", "no heat", "sewage overflow", "water main break",
    ),
}  # fmt: skip

_ORDER = (Priority.EMERGENCY, Priority.URGENT)


@dataclass(frozen=True, slots=True)
class UrgencyHit:
    """The priority proposed and the words of the text that proposed it."""

    priority: Priority
    words: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    """Terms per priority, normalised once."""

    terms: Mapping[Priority, tuple[str, ...]]

    @classmethod
    def default(cls) -> Lexicon:
        return cls.of(DEFAULT_TERMS)

    @classmethod
    def of(cls, terms: Mapping[Priority, tuple[str, ...] | list[str]]) -> Lexicon:
        return cls({p: tuple(normalise(t) for t in ts if t.strip()) for p, ts in terms.items()})

    @classmethod
    def from_file(cls, path: Path) -> Lexicon:
        """A lexicon file: ``{emergency: [...], urgent: [...]}``; a bad file names what is wrong."""
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{path}: cannot read the urgency lexicon: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{path}: expected a mapping of priority to a list of words")
        terms: dict[Priority, list[str]] = {}
        for key, value in data.items():
            if key not in (p.value for p in _ORDER):
                raise InvalidInput(f"{path}: {key}: expected one of emergency, urgent")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidInput(f"{path}: {key}: expected a list of words")
            terms[Priority(key)] = value
        return cls.of(terms)

    def match(self, text: str) -> UrgencyHit | None:
        """The highest priority whose words occur in the text, with those words."""
        plain = normalise(text)
        for priority in _ORDER:
            found = tuple(t for t in self.terms.get(priority, ()) if _occurs(t, plain))
            if found:
                return UrgencyHit(priority, found)
        return None


@lru_cache(maxsize=8)
def lexicon_for(path: Path | None) -> Lexicon:
    """The configured lexicon (``WHISTLE_URGENCY_LEXICON``), or the built-in one."""
    return Lexicon.from_file(path) if path is not None else Lexicon.default()


def _occurs(term: str, text: str) -> bool:
    if term.isascii():
        # English words match whole words only: "fire" is not in "firewall".
        start = text.find(term)
        while start >= 0:
            end = start + len(term)
            before = text[start - 1] if start else " "
            after = text[end] if end < len(text) else " "
            if not before.isalnum() and not after.isalnum():
                return True
            start = text.find(term, start + 1)
        return False
    return term in text
