"""The ``whistle`` command line: run the stack, migrate, check and draw workflows, verify audit.

Each group of commands lives in its own module and is registered here; a command parses its
arguments, calls the engine, and prints — no business rule lives in a command.
"""

from __future__ import annotations

import logging

import click

from api.cli.common import CliError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """Whistle — case dispatch for 吹哨报到 and 接诉即办."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from api.cli import (
        accounts,
        api_cmd,
        audit,
        db,
        demo,
        evaluate,
        importing,
        insight,
        worker,
        workflows,
    )  # fmt: skip

    for module in (
        db, workflows, audit, worker, accounts, api_cmd, evaluate, importing, demo, insight,
    ):  # fmt: skip
        for command in module.COMMANDS:
            main.add_command(command)


_register()

__all__ = ["CliError", "main"]
