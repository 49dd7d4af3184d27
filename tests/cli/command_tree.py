"""The command line as a tree: every command of ``dosing.cli.main`` with the words that reach it, for
tests that check a rule across all commands."""

from __future__ import annotations

import click


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            found += walk(sub, (*path, name))
    return found
