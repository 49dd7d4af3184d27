"""The ``dosing`` command line.

Commands live in small modules and are imported only when run, so ``dosing --help`` and
``dosing plan`` start fast and never import Prefect (only ``dosing flows`` does).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

#: command name -> "module:attribute"; each module owns its commands.
COMMANDS: dict[str, str] = {
    "protocols": "dosing.cli.protocols:protocols",
    "plan": "dosing.cli.protocols:plan",
    "enroll": "dosing.cli.enrollment:enroll",
    "record": "dosing.cli.recording:record",
    "skip": "dosing.cli.recording:skip",
    "correct": "dosing.cli.recording:correct",
    "reschedule": "dosing.cli.reschedule:reschedule",
    "status": "dosing.cli.status:status",
    "overdue": "dosing.cli.status:overdue",
    "audit": "dosing.cli.audit:audit",
    "export": "dosing.cli.export:export",
    "cohorts": "dosing.cli.cohorts:cohorts",
    "calendar": "dosing.cli.calendar:calendar",
    "lots": "dosing.cli.pharmacy:lots",
    "prep": "dosing.cli.pharmacy:prep",
    "bag": "dosing.cli.pharmacy:bag",
    "flows": "dosing.cli.flows:flows",
    "db": "dosing.cli.database:db",
    "users": "dosing.cli.accounts:users",
    "login": "dosing.cli.accounts:login",
    "logout": "dosing.cli.accounts:logout",
    "whoami": "dosing.cli.accounts:whoami",
    "feeds": "dosing.cli.feeds:feeds",
    "web": "dosing.cli.web:web",
    "demo": "dosing.cli.demo:demo",
    "preload": "dosing.cli.preload:preload",
}

_HELP: dict[str, str] = {
    "protocols": "List, show and validate protocol definitions.",
    "plan": "Dry run: a patient's planned doses, volumes and dates.",
    "enroll": "Enroll a subject and store the plan.",
    "record": "Record a given dose.",
    "skip": "Record a dose that was not given, with the reason.",
    "correct": "Correct an earlier record (a new audited record).",
    "reschedule": "Preview or apply a reschedule after a delay.",
    "status": "A subject's plan with the status of every dose.",
    "overdue": "Every missed or late dose across subjects.",
    "audit": "The audit trail.",
    "export": "Export the dose ledger: SDTM package, FHIR Bundles, EC/EX CSV.",
    "cohorts": "Dose-escalation cohorts and safety reviews.",
    "calendar": "Export infusion calendars (.ics).",
    "lots": "Register and list product lots.",
    "prep": "Pharmacy worksheets and labels.",
    "bag": "A bag's chain of custody: prepare, verify, release, waste, return, void, label.",
    "flows": "Run or serve the Prefect flows.",
    "db": "Database setup and migrations.",
    "users": "Accounts and roles (admin).",
    "login": "Log in to this store (a session for the commands that follow).",
    "logout": "End this store's session.",
    "whoami": "The account of this store's session.",
    "feeds": "Calendar subscription URLs (create, list, revoke).",
    "web": "Serve the web application (ward, pharmacy, coordinator pages and the API).",
    "demo": "Quick start: demo accounts on an empty store, then the example roster.",
    "preload": "Keep the command line's code loaded: commands start in milliseconds.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help lists the commands without importing every module behind them.
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `dosing --helpp`: the group's own options, refused in the same one-line form as a command's.
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise  # `dosing` alone: the help, as click prints it
        except click.UsageError as error:
            _report(usage_refusal(error))
            ctx.exit(2)

    def invoke(self, ctx: click.Context) -> Any:
        # Imported here so that `dosing --help` does not pay for pydantic.
        from dosing.errors import DosingError

        try:
            return super().invoke(ctx)
        except DosingError as error:
            _report(error)
            ctx.exit(2)
        except click.UsageError as error:
            # Click's own refusals (a value that is not a number, a missing option, an unknown
            # option) in the same one-line form as every other bad input, naming the option.
            _report(usage_refusal(error))
            ctx.exit(2)
        except Exception as error:
            from dosing.store.database_errors import database_refusal

            refusal = database_refusal(error)
            if refusal is None:
                raise
            _report(refusal)
            # Bad data the database refused is the user's to fix (2); an unreachable or locked
            # database is not (1).
            ctx.exit(2 if refusal.field == "database" else 1)


def usage_refusal(error: click.UsageError) -> Any:
    """A click usage error as a DosingError: the option or argument is the field, the command's usage
    is the rule."""
    from dosing.errors import DosingError

    field = "usage"
    param = getattr(error, "param", None)
    option_name = getattr(error, "option_name", None)
    if param is not None:
        names = [opt for opt in param.opts if opt.startswith("--")] or list(param.opts)
        field = names[0] if names else str(param.name)
    elif option_name:
        field = option_name
    field = field.lstrip("-").replace("-", " ").replace("_", " ") or "usage"
    command = error.ctx.command_path if error.ctx is not None else "dosing"
    return DosingError(field, f"the options and arguments of `{command} --help`", error.format_message())


def _report(error: Any) -> None:
    from dosing.free_text import printable

    if "--json" in sys.argv:
        import json

        click.echo(json.dumps(error.as_dict()), err=True)  # JSON escapes control characters itself
    else:
        click.secho(f"error: {printable(str(error))}", fg="red", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cell-dosing")
def main() -> None:
    """Dosing and infusion scheduling for cell-therapy trials."""
