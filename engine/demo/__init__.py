"""The demo city (``city``) and its live simulation (``simulation``): ``whistle demo``."""

from engine.demo.city import (
    DemoCity,
    DemoLogin,
    build_demo,
)
from engine.demo.simulation import Simulation, TickReport

__all__ = [
    "DemoCity",
    "DemoLogin",
    "Simulation",
    "TickReport",
    "build_demo",
]
