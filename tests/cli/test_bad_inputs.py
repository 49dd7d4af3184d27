"""Issue 14: a table of bad inputs, every command of the CLI and every file format it reads.

Each case runs ``dosing ARGS`` through the real entry point (``dosing.cli.main``, in process with
click's CliRunner; a representative subset also as a real ``dosing`` process, some with the system
clock set by libfaketime) and must end the same way: exit status 2, standard error starting
``error: <field>: `` and carrying ``(rule: ...)``, no traceback, and a store whose every table dumps
the same before and after (the only rows a refusal may add are its own audit entries: a refused
action or a failed login is evidence, 21 CFR 11.10(d)). The commands that write run on a SQLite file
and on PostgreSQL (its own schema in database ``test``).

The store is chosen with ``DOSING_DATABASE_URL``, never an option. Every case starts from the same
seeded store: an admin, a tester holding every clinical role, a nurse and a pharmacist, each logged
in; S-001 (dose 1 recorded) and S-002 enrolled in NCT04822922 today, lot L123 registered.
"""

from __future__ import annotations

import os
import subprocess
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from tests.dosing_cli import ADMIN, DOSING, PASSWORD, TESTER, _signs, faketime_env, log_in_here
from tests.eligible import ELIGIBLE_OPTIONS
from tests.store.conftest import PG_URL, SESSION_TAG, _pg_reachable, pg_url_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
NURSE, PHARMACIST = "nina", "pat"
TEN_KB = "x" * 10_240


@dataclass(frozen=True)
class Bad:
    """One bad input: ``args`` as typed (placeholders in braces), the field the message must name
    and a fragment of its rule or reason."""

    args: tuple[str, ...]
    field: str
    rule: str
    writes: bool = False
    user: str = TESTER
    #: Audit actions the refusal itself writes (the refused action is evidence, never silent).
    audited: tuple[str, ...] = ()
    #: Also through a real ``dosing`` process; with ``clock``, under libfaketime at that offset from now.
    process: bool = False
    clock_days: int | None = None


def bad(*args: str, field: str, rule: str, **options: Any) -> Bad:
    return Bad(tuple(args), field, rule, **options)


def w(*args: str, field: str, rule: str, **options: Any) -> Bad:
    """A bad input to a command that writes: run on SQLite and on PostgreSQL."""
    return Bad(tuple(args), field, rule, writes=True, **options)


ENROLL = ("enroll", "NCT04822922", "--subject", "S-900", "--arm", "low")
ENROLL_OK = (*ENROLL, "--weight", "62kg", "--anchor", "{today}", *ELIGIBLE_OPTIONS)
ACLF = ("enroll", "MSC-ACLF-WEEKLY", "--subject", "R-900", "--weight", "70kg", *ELIGIBLE_OPTIONS)
PLAN = ("plan", "NCT04822922", "--arm", "high", "--anchor", "2026-12-01")
PLAN_OK = (*PLAN, "--weight", "62kg")
RECORD = ("record", "S-002", "--dose", "1", "--at", "{now}", "--lot", "L123")
SKIP = ("skip", "S-002", "--dose", "2")
CORRECT = ("correct", "S-001", "--dose", "1", "--reason", "lot number mistyped")
LOT = ("lots", "add", "--product", "UC-MSC", "--concentration", "2e6/mL", "--viability", "95%")
LOT_OK = (*LOT, "--lot-number", "L900", "--volume", "50mL", "--expiry", "2027-12-31")
REVIEW = ("cohorts", "NCT04822922", "--review", "1")
OUT = "{tmp}/out"

CASES: list[Bad] = [
    # --- plan: a dry run, nothing stored ---------------------------------------------------------
    bad(*PLAN, "--weight", "62", field="weight", rule="has no unit", process=True),
    bad(*PLAN, "--weight", "62 g", field="weight", rule="kg"),
    bad(*PLAN, "--weight", "620kg", field="weight", rule="300 kg"),
    bad(*PLAN, "--weight", "6.2kg", field="weight", rule="30"),
    bad(*PLAN, "--weight", "0kg", field="weight", rule="weight"),
    bad(*PLAN, "--weight", "-62kg", field="weight", rule="weight"),
    bad(*PLAN, "--weight", "150 lb", field="weight", rule="pounds"),
    bad(*PLAN, "--weight", "sixty kg", field="weight", rule="weight"),
    bad(*PLAN, "--weight", "1e400 kg", field="weight", rule="weight"),
    bad(*PLAN, "--weight", "nan kg", field="weight", rule="weight"),
    bad(*PLAN, "--weight", "", field="weight", rule="weight"),
    bad(*PLAN_OK[:-4], "--weight", "62kg", "--anchor", "2026-13-01", field="anchor", rule="date"),
    bad(
        *PLAN_OK[:-4], "--weight", "62kg", "--anchor", "9999-12-31", field="anchor", rule="DOSING_LATEST_YEAR"
    ),
    bad(
        *PLAN_OK[:-4],
        "--weight",
        "62kg",
        "--anchor",
        "0001-01-01",
        field="anchor",
        rule="DOSING_EARLIEST_YEAR",
    ),
    bad(*PLAN_OK[:-4], "--weight", "62kg", "--anchor", "2026-12-01T10:00", field="anchor", rule="offset"),
    bad(*PLAN_OK[:-4], "--weight", "62kg", "--anchor", "yesterday", field="anchor", rule="date"),
    bad(
        "plan",
        "NCT04822922",
        "--arm",
        "highest",
        "--weight",
        "62kg",
        "--anchor",
        "2026-12-01",
        field="arm",
        rule="highest",
    ),
    bad(*PLAN_OK, "--viability", "9.5%", field="viability", rule="70"),
    bad(*PLAN_OK, "--viability", "0%", field="viability", rule="viability"),
    bad(*PLAN_OK, "--viability", "101%", field="viability", rule="100"),
    bad(*PLAN_OK, "--viability", "-5%", field="viability", rule="viability"),
    bad(*PLAN_OK, "--viability", "ninety", field="viability", rule="viability"),
    bad(*PLAN_OK, "--concentration", "2e12/mL", field="concentration", rule="concentration"),
    bad(*PLAN_OK, "--concentration", "0/mL", field="concentration", rule="concentration"),
    bad(*PLAN_OK, "--concentration", "-2e6/mL", field="concentration", rule="concentration"),
    bad(*PLAN_OK, "--concentration", "2e6 mg/mL", field="concentration", rule="cells"),
    bad(*PLAN_OK, "--concentration", "lots", field="concentration", rule="concentration"),
    bad(*PLAN_OK, "--weight-measured-on", "2026-13-01", field="weight measured on", rule="plan --help"),
    # A dry run has no enrollment day: the weight is measured by today, at most 30 days before it.
    bad(*PLAN_OK, "--weight-measured-on", "2100-01-01", field="weight measured on",
        rule="a weight is measured before it is used"),
    bad(*PLAN_OK, "--weight-measured-on", "1999-01-01", field="weight measured on",
        rule="DOSING_WEIGHT_MAX_AGE_DAYS"),
    bad(*PLAN_OK, "--site", "tehran", field="site", rule="site"),
    bad(
        "plan",
        "NCT0000000",
        "--arm",
        "high",
        "--weight",
        "62kg",
        "--anchor",
        "2026-12-01",
        field="protocol",
        rule="protocol library",
    ),
    bad(
        "plan",
        "NCT05940610",
        "--arm",
        "msc-ev",
        "--weight",
        "62kg",
        "--anchor",
        "2026-12-01",
        field="study status",
        rule="withdrawn",
    ),
    bad(
        "plan",
        "MSC-ACLF-WEEKLY",
        "--arm",
        "msc",
        "--weight",
        "70kg",
        "--anchor",
        "2027-03-01",
        "--dose-per-kg",
        "50 x10^5 cells/kg",
        field="dose per kg",
        rule="10",
    ),
    bad(
        "plan",
        "MSC-ACLF-WEEKLY",
        "--arm",
        "msc",
        "--weight",
        "70kg",
        "--anchor",
        "2027-03-01",
        field="dose per kg",
        rule="dose per kg",
    ),
    bad(
        "plan",
        "MSC-ACLF-WEEKLY",
        "--arm",
        "msc",
        "--weight",
        "70kg",
        "--anchor",
        "2027-03-01",
        "--dose-per-kg",
        "5 mg/kg",
        field="dose per kg",
        rule="cells",
    ),
    bad(
        "plan",
        "MSC-ACLF-WEEKLY",
        "--arm",
        "msc",
        "--weight",
        "45kg",
        "--anchor",
        "2027-03-01",
        "--dose-per-kg",
        "5 x10^5 cells/kg",
        field="weight",
        rule="50 kg",
    ),
    bad(
        "plan",
        "SYSU3-MSCEV-LT",
        "--arm",
        "msc-ev",
        "--weight",
        "60kg",
        "--anchor",
        "2026-02-30",
        field="anchor",
        rule="date",
    ),
    bad("plan", "NCT04822922", "--weight", "62kg", "--anchor", "2026-12-01", field="arm", rule="Missing"),
    bad(
        *PLAN_OK, "--weight-measured-on", "9999-12-31", field="weight measured on", rule="DOSING_LATEST_YEAR"
    ),
    # --- enroll ------------------------------------------------------------------------------------
    w(
        *ENROLL,
        "--weight",
        "62",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="weight",
        rule="no unit",
        process=True,
    ),
    w(*ENROLL, "--weight", "62 g", "--anchor", "{today}", *ELIGIBLE_OPTIONS, field="weight", rule="kg"),
    w(*ENROLL, "--weight", "620kg", "--anchor", "{today}", *ELIGIBLE_OPTIONS, field="weight", rule="300 kg"),
    w(*ENROLL, "--weight", "6.2kg", "--anchor", "{today}", *ELIGIBLE_OPTIONS, field="weight", rule="30"),
    w(*ENROLL, "--weight", "-62kg", "--anchor", "{today}", *ELIGIBLE_OPTIONS, field="weight", rule="weight"),
    w(*ENROLL, "--weight", "150 lb", "--anchor", "{today}", *ELIGIBLE_OPTIONS, field="weight", rule="pounds"),
    w(
        *ENROLL_OK,
        "--weight-measured-on",
        "2026-13-01",
        field="weight measured on",
        rule="date",
        process=True,
    ),
    w(
        *ENROLL_OK,
        "--weight-measured-on",
        "9999-12-31",
        field="weight measured on",
        rule="DOSING_LATEST_YEAR",
    ),
    w(*ENROLL_OK, "--weight-measured-on", "{tomorrow}", field="weight measured on", rule="in the future"),
    w(*ENROLL_OK, "--weight-measured-on", "2020-01-01", field="weight measured on", rule="30 days"),
    w(*ENROLL_OK, "--weight-measured-on", "2026-02-29", field="weight measured on", rule="date"),
    w(
        *ENROLL,
        "--weight",
        "62kg",
        "--anchor",
        "9999-12-31",
        *ELIGIBLE_OPTIONS,
        field="anchor",
        rule="DOSING_LATEST_YEAR",
    ),
    w(*ENROLL, "--weight", "62kg", "--anchor", "2026-13-01", *ELIGIBLE_OPTIONS, field="anchor", rule="date"),
    w(
        *ENROLL,
        "--weight",
        "62kg",
        "--anchor",
        "0001-01-01",
        *ELIGIBLE_OPTIONS,
        field="anchor",
        rule="DOSING_EARLIEST_YEAR",
    ),
    w(
        *ENROLL,
        "--weight",
        "62kg",
        "--anchor",
        "{today}T10:00",
        *ELIGIBLE_OPTIONS,
        field="anchor",
        rule="offset",
    ),
    w(
        "enroll",
        "NCT04822922",
        "--subject",
        "S-900",
        "--arm",
        "high",
        "--weight",
        "62kg",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="arm",
        rule="cohort",
    ),
    w(
        "enroll",
        "NCT04822922",
        "--subject",
        "S-900",
        "--arm",
        "highest",
        "--weight",
        "62kg",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="arm",
        rule="highest",
    ),
    w(
        "enroll",
        "NCT04822922",
        "--subject",
        "",
        "--arm",
        "low",
        "--weight",
        "62kg",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="subject_code",
        rule="subject",
    ),
    w(
        "enroll",
        "NCT04822922",
        "--subject",
        "S-\x1b[31m9",
        "--arm",
        "low",
        "--weight",
        "62kg",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="subject_code",
        rule="pattern",
    ),
    w(
        "enroll",
        "NCT04822922",
        "--subject",
        "S" * 200,
        "--arm",
        "low",
        "--weight",
        "62kg",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="subject_code",
        rule="pattern",
    ),
    w(
        "enroll",
        "NCT04822922",
        "--subject",
        "S-001",
        "--arm",
        "low",
        "--weight",
        "64kg",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="subject",
        rule="already enrolled",
    ),
    w(
        "enroll",
        "NCT04822922",
        "--subject",
        "s-002",
        "--arm",
        "low",
        "--weight",
        "64kg",
        "--anchor",
        "{today}",
        *ELIGIBLE_OPTIONS,
        field="subject",
        rule="already enrolled",
    ),
    w(
        "enroll",
        "NCT0000000",
        "--subject",
        "S-900",
        "--weight",
        "62kg",
        field="protocol",
        rule="protocol library",
    ),
    w(
        "enroll",
        "NCT05940610",
        "--subject",
        "W-900",
        "--weight",
        "62kg",
        "--anchor",
        "{today}",
        field="study status",
        rule="withdrawn",
        process=True,
    ),
    w(*ENROLL_OK, "--site", "tehran", field="site", rule="site"),
    w(*ENROLL_OK[:-14], "--age", "150", *ELIGIBLE_OPTIONS[2:], field="age", rule="120"),
    w(*ENROLL_OK[:-14], "--age", "-1", *ELIGIBLE_OPTIONS[2:], field="age", rule="0"),
    w(*ENROLL_OK[:-14], "--age", "fifty", *ELIGIBLE_OPTIONS[2:], field="age", rule="integer"),
    w(
        *ENROLL_OK[:-14],
        "--age",
        "50",
        "--creatinine",
        "1.5",
        *ELIGIBLE_OPTIONS[4:],
        field="creatinine",
        rule="mg/dL",
    ),
    w(
        *ENROLL_OK[:-14],
        "--age",
        "50",
        "--creatinine",
        "150 mg/dL",
        *ELIGIBLE_OPTIONS[4:],
        field="creatinine",
        rule="25",
    ),
    w(
        *ENROLL_OK[:-14],
        "--age",
        "50",
        "--creatinine",
        "-1 mg/dL",
        *ELIGIBLE_OPTIONS[4:],
        field="creatinine",
        rule="creatinine",
    ),
    w(
        *ENROLL_OK[:-14],
        *ELIGIBLE_OPTIONS[:4],
        "--bilirubin",
        "10 g/L",
        *ELIGIBLE_OPTIONS[6:],
        field="bilirubin",
        rule="mg/dL",
    ),
    w(
        *ENROLL_OK[:-14],
        *ELIGIBLE_OPTIONS[:4],
        "--bilirubin",
        "800 mg/dL",
        *ELIGIBLE_OPTIONS[6:],
        field="bilirubin",
        rule="80",
    ),
    w(*ENROLL_OK[:-14], *ELIGIBLE_OPTIONS[:6], "--inr", "50", *ELIGIBLE_OPTIONS[8:], field="INR", rule="15"),
    w(
        *ENROLL_OK[:-14],
        *ELIGIBLE_OPTIONS[:8],
        "--albumin",
        "30 mg/dL",
        *ELIGIBLE_OPTIONS[10:],
        field="albumin",
        rule="g/dL",
    ),
    w(
        *ENROLL_OK[:-14],
        *ELIGIBLE_OPTIONS[:10],
        "--ascites",
        "lots",
        *ELIGIBLE_OPTIONS[12:],
        field="ascites",
        rule="enroll --help",
    ),
    w(*ACLF, "--dose-per-kg", "5 x10^5 cells/kg", "--arm", "msc", field="arm", rule="randomiz"),
    w(
        *ACLF,
        "--dose-per-kg",
        "5 x10^5 cells/kg",
        "--arm",
        "msc",
        "--override-allocation",
        field="reason",
        rule="reason",
    ),
    w(
        *ACLF,
        "--dose-per-kg",
        "5 x10^5 cells/kg",
        "--arm",
        "msc",
        "--override-allocation",
        "--reason",
        TEN_KB,
        field="reason",
        rule="at most 500 characters",
    ),
    w(*ACLF, "--dose-per-kg", "50 x10^5 cells/kg", field="dose per kg", rule="10"),
    w(*ACLF, "--dose-per-kg", "5 mg/kg", field="dose per kg", rule="cells"),
    w(*ACLF, field="dose per kg", rule="dose per kg"),
    w(*ENROLL_OK, "--dose-per-kg", "5 x10^5 cells/kg", field="dose per kg", rule="dose"),
    w(*ENROLL_OK, "--as-of", "2026-12-01T00:00+08:00", field="as of", rule="enroll --help"),
    w(
        "enroll",
        "SYSU3-MSCEV-LT",
        "--subject",
        "T-900",
        "--weight",
        "60kg",
        *ELIGIBLE_OPTIONS,
        field="anchor",
        rule="transplant",
    ),
    w(*ENROLL_OK, user=NURSE, field="authority", rule="enroll needs the role", audited=("refused",)),
    w(*ENROLL_OK, "--reason", "\x07", field="reason", rule="control character"),
    # --- record --------------------------------------------------------------------------------------
    w("record", "S-002", "--dose", "0", "--at", "{now}", "--lot", "L123", field="dose", rule="dose"),
    w("record", "S-002", "--dose", "-1", "--at", "{now}", "--lot", "L123", field="dose", rule="dose"),
    w(
        "record",
        "S-002",
        "--dose",
        "99",
        "--at",
        "{now}",
        "--lot",
        "L123",
        field="dose",
        rule="dose",
        process=True,
    ),
    w(
        "record",
        "S-002",
        "--dose",
        "99999999999999999999",
        "--at",
        "{now}",
        "--lot",
        "L123",
        field="dose",
        rule="dose",
    ),
    w("record", "S-002", "--dose", "one", "--at", "{now}", field="dose", rule="not a valid integer"),
    w("record", "S-404", "--dose", "1", "--at", "{now}", "--lot", "L123", field="subject", rule="S-404"),
    w("record", "S-002", "--dose", "1", "--at", "2026-13-01T10:00", "--lot", "L123", field="at", rule="date"),
    w(
        "record",
        "S-002",
        "--dose",
        "1",
        "--at",
        "9999-12-31T10:00",
        "--lot",
        "L123",
        field="at",
        rule="DOSING_LATEST_YEAR",
    ),
    w(
        "record",
        "S-002",
        "--dose",
        "1",
        "--at",
        "0001-01-01T00:00",
        "--lot",
        "L123",
        field="at",
        rule="DOSING_EARLIEST_YEAR",
    ),
    w("record", "S-002", "--dose", "1", "--at", "{in_a_day}", "--lot", "L123", field="at", rule="future"),
    w("record", "S-002", "--dose", "1", "--at", "2020-01-01T10:00", "--lot", "L123", field="at", rule="late"),
    w("record", "S-002", "--dose", "1", "--at", "now", "--lot", "L123", field="at", rule="date-time"),
    w(*RECORD, "--end", "{an_hour_ago}", field="end", rule="end"),
    w(*RECORD, "--end", "9999-12-31T10:00", field="end", rule="DOSING_LATEST_YEAR"),
    w(*RECORD, "--amount", "2.48 x10^8 cells", field="amount", rule="overdose", process=True),
    w(*RECORD, "--amount", "-2.48 x10^7 cells", field="amount", rule="amount"),
    w(*RECORD, "--amount", "400 mg", field="amount", rule="cells"),
    w(*RECORD, "--amount", "lots", field="amount", rule="amount"),
    w(*RECORD, "--volume", "-5mL", field="volume", rule="volume"),
    w(*RECORD, "--volume", "1 L", field="volume", rule="mL"),
    w(*RECORD, "--volume", "101mL", field="volume", rule="final volume 100 mL"),
    w(*RECORD, "--volume", "1e12mL", field="volume", rule="more than the bag holds"),
    w(*RECORD, "--volume", "60", field="volume", rule="mL"),
    w(*RECORD, "--partial", field="amount", rule="--amount or --volume"),
    # A 10x typo downwards, or nothing at all: not a partial dose unless the nurse says so.
    w(*RECORD, "--amount", "2.48 x10^6 cells", field="amount", rule="a partial dose, recorded as one"),
    w(*RECORD, "--volume", "6mL", field="volume", rule="(--partial)"),
    w(*RECORD, "--volume", "0.06mL", "--partial", field="volume", rule="the smallest volume measured"),
    w(*RECORD, "--amount", "2.48 x10^3 cells", "--partial", field="amount", rule="smallest volume measured"),
    w(*RECORD, "--amount", "0 x10^7 cells", field="amount", rule="recorded with dosing skip"),
    w("record", "S-002", "--dose", "1", "--at", "{now}", "--lot", "L999", field="lot", rule="L999"),
    w("record", "S-002", "--dose", "1", "--at", "{now}", "--lot", "L" * 65, field="lot", rule="64"),
    w(*RECORD, "--route", "R" * 33, field="route", rule="32"),
    w(*RECORD, "--route", "IV\r", field="route", rule="control character"),
    w(*RECORD, "--given-by", "nurse\x07", field="given_by", rule="control character"),
    w(*RECORD, "--given-by", "N" * 129, field="given_by", rule="128"),
    w(*RECORD, "--notes", TEN_KB, field="notes", rule="at most 2000 characters", process=True),
    w(*RECORD, "--notes", "ok \x1b[2J all clear", field="notes", rule="control character"),
    w(*RECORD, "--notes", "looks \u202eevil", field="notes", rule="control character"),
    w(*RECORD, "--reaction", "r" * 501, field="infusion_reaction", rule="at most 500 characters"),
    w(*RECORD, "--din", "not-a-din\x1b", field="din", rule="control character"),
    w(*RECORD, "--din", "D" * 33, field="din", rule="32"),
    w(*RECORD, "--bag", "B9999999", field="bag", rule="B9999999"),
    w(*RECORD, "--as-of", "{now}", field="as of", rule="record --help"),
    w("record", "S-001", "--dose", "1", "--at", "{now}", "--lot", "L123", field="dose", rule="already"),
    w(*RECORD, user=PHARMACIST, field="authority", rule="record", audited=("refused",)),
    w("record", "S-002", "--dose", "1", "--lot", "L123", field="at", rule="Missing option"),
    # --- skip ------------------------------------------------------------------------------------------
    w("skip", "S-002", "--dose", "0", "--reason", "held", field="dose", rule="dose"),
    w("skip", "S-002", "--dose", "-1", "--reason", "held", field="dose", rule="dose"),
    w("skip", "S-002", "--dose", "99", "--reason", "held", field="dose", rule="dose"),
    w("skip", "S-404", "--dose", "2", "--reason", "held", field="subject", rule="S-404"),
    w(*SKIP, "--reason", TEN_KB, field="reason", rule="at most 500 characters", process=True),
    w(*SKIP, "--reason", "held\x1b[0m", field="reason", rule="control character"),
    w(*SKIP, "--reason", "", field="reason", rule="reason"),
    w(*SKIP, "--reason", "held", "--at", "9999-12-31T00:00", field="at", rule="DOSING_LATEST_YEAR"),
    w(*SKIP, "--reason", "held", "--at", "2026-13-01T00:00", field="at", rule="date"),
    w(*SKIP, "--reason", "held", "--at", "{in_a_day}", field="at", rule="future"),
    w("skip", "S-001", "--dose", "1", "--reason", "held", field="dose", rule="already"),
    w(*SKIP, "--reason", "held", user=PHARMACIST, field="authority", rule="skip", audited=("refused",)),
    w(*SKIP, "--reason", "held", "--as-of", "{now}", field="as of", rule="skip --help"),
    # --- correct ------------------------------------------------------------------------------------
    w("correct", "S-001", "--dose", "2", "--reason", "typo", "--lot", "L123", field="dose", rule="record"),
    w("correct", "S-001", "--dose", "0", "--reason", "typo", "--lot", "L123", field="dose", rule="dose"),
    w("correct", "S-001", "--dose", "99", "--reason", "typo", "--lot", "L123", field="dose", rule="dose"),
    w("correct", "S-404", "--dose", "1", "--reason", "typo", "--lot", "L123", field="subject", rule="S-404"),
    w(
        "correct",
        "S-001",
        "--dose",
        "1",
        "--reason",
        TEN_KB,
        "--lot",
        "L123",
        field="reason",
        rule="at most 500 characters",
    ),
    w("correct", "S-001", "--dose", "1", "--reason", "", "--lot", "L123", field="reason", rule="reason"),
    w(
        "correct",
        "S-001",
        "--dose",
        "1",
        "--reason",
        "typo\x1b",
        "--lot",
        "L123",
        field="reason",
        rule="control character",
    ),
    w(*CORRECT, "--amount", "2.48 x10^8 cells", field="amount", rule="overdose", process=True),
    w(*CORRECT, "--amount", "-1 x10^7 cells", field="amount", rule="amount"),
    w(*CORRECT, "--amount", "2.48 x10^6 cells", field="amount", rule="(--partial)"),
    w(*CORRECT, "--volume", "-1mL", field="volume", rule="volume"),
    w(*CORRECT, "--volume", "1 L", field="volume", rule="mL"),
    w(*CORRECT, "--volume", "250mL", field="volume", rule="final volume 100 mL"),
    w(*CORRECT, "--at", "9999-12-31T10:00", field="at", rule="DOSING_LATEST_YEAR"),
    w(*CORRECT, "--at", "2027-02-30T10:00", field="at", rule="date"),
    w(*CORRECT, "--at", "{in_a_day}", field="at", rule="future"),
    w(*CORRECT, "--becomes", "skipped", field="skip reason", rule="a skipped dose has a reason"),
    w(
        *CORRECT,
        "--becomes",
        "skipped",
        "--skip-reason",
        TEN_KB,
        field="skip_reason",
        rule="at most 500 characters",
    ),
    w(*CORRECT, "--becomes", "lost", field="becomes", rule="correct --help"),
    w(*CORRECT, "--record", "999999", "--lot", "L124", field="record", rule="999999"),
    w(*CORRECT, "--lot", "L999", field="lot", rule="L999"),
    w(*CORRECT, "--notes", "\x1b]0;pwned\x07", field="notes", rule="control character"),
    w(*CORRECT, "--lot", "L123", user=PHARMACIST, field="authority", rule="correct", audited=("refused",)),
    w("correct", "S-001", "--dose", "1", "--lot", "L123", field="reason", rule="Missing option"),
    # --- reschedule ----------------------------------------------------------------------------------
    bad("reschedule", "S-001", "--dose", "0", field="dose", rule="dose"),
    bad("reschedule", "S-001", "--dose", "99", field="dose", rule="dose"),
    bad("reschedule", "S-404", "--dose", "2", field="subject", rule="S-404"),
    bad("reschedule", "S-001", "--dose", "2", "--given-on", "2026-13-01", field="given on", rule="date"),
    bad(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--given-on",
        "9999-12-31",
        field="given on",
        rule="DOSING_LATEST_YEAR",
    ),
    bad(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--given-on",
        "0001-01-01",
        field="given on",
        rule="DOSING_EARLIEST_YEAR",
    ),
    # A year's delay (a digit typo in the year) and a dose expected before its subject was enrolled.
    bad("reschedule", "S-001", "--dose", "2", "--given-on", "{in_a_year}", field="given on", rule="DELAY"),
    bad("reschedule", "S-001", "--dose", "2", "--given-on", "{a_week_ago}", field="given on", rule="enroll"),
    bad("reschedule", "S-001", "--dose", "2", "--as-of", "2026-13-01", field="as of", rule="date"),
    bad(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--as-of",
        "9999-12-31",
        field="as of",
        rule="DOSING_LATEST_YEAR",
    ),
    bad(
        "reschedule", "S-001", "--dose", "2", "--policy", "whenever", field="policy", rule="reschedule --help"
    ),
    w(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--apply",
        "--as-of",
        "{now}",
        field="as of",
        rule="server clock",
        process=True,
    ),
    w(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--given-on",
        "{in_two_days}",
        "--policy",
        "keep_original",
        "--apply",
        field="policy",
        rule="give --reason",
    ),
    w(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--given-on",
        "{in_two_days}",
        "--reason",
        TEN_KB,
        "--apply",
        field="reason",
        rule="at most 500 characters",
    ),
    w(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--given-on",
        "{in_two_days}",
        "--reason",
        "bed\x1b",
        "--apply",
        field="reason",
        rule="control character",
    ),
    w(
        "reschedule",
        "S-001",
        "--dose",
        "1",
        "--given-on",
        "{in_two_days}",
        "--reason",
        "x",
        "--apply",
        field="given on",
        rule="recorded",
    ),
    w(
        "reschedule",
        "S-001",
        "--dose",
        "2",
        "--given-on",
        "{in_two_days}",
        "--reason",
        "late",
        "--apply",
        user=NURSE,
        field="authority",
        rule="reschedule",
        audited=("refused",),
    ),
    # --- cohorts -------------------------------------------------------------------------------------
    w(*REVIEW, "--safe", "--reviewed-on", "2027-02-30", field="reviewed on", rule="date", process=True),
    w(*REVIEW, "--safe", "--reviewed-on", "9999-12-31", field="reviewed on", rule="DOSING_LATEST_YEAR"),
    w(*REVIEW, "--safe", "--reviewed-on", "0001-01-01", field="reviewed on", rule="DOSING_EARLIEST_YEAR"),
    w("cohorts", "NCT04822922", "--review", "0", "--safe", field="cohort", rule="cohort"),
    w("cohorts", "NCT04822922", "--review", "-1", "--safe", field="cohort", rule="cohort"),
    w("cohorts", "NCT04822922", "--review", "99", "--safe", field="cohort", rule="cohort"),
    w(*REVIEW, field="safe", rule="--safe or --unsafe"),
    w(*REVIEW, "--safe", "--decide", "resume", field="decide", rule="one change at a time"),
    w(*REVIEW, "--safe", "--as-of", "{now}", field="as of", rule="server clock"),
    w(*REVIEW, "--safe", field="reviewed on", rule="safety window"),
    w(*REVIEW, "--unsafe", "--reason", TEN_KB, field="reason", rule="at most 500 characters"),
    w(*REVIEW, "--unsafe", "--reason", "SAE\x1b[2J", field="reason", rule="control character"),
    w(*REVIEW, "--safe", "--notes", "n" * 10_240, field="notes", rule="characters"),
    w(*REVIEW, "--safe", "--notes", "fine\u202e", field="notes", rule="control character"),
    w("cohorts", "NCT04822922", "--decide", "resume", "--level", "low", field="reason", rule="reason"),
    w(
        "cohorts",
        "NCT04822922",
        "--decide",
        "resume",
        "--level",
        "highest",
        "--reason",
        "DSMB",
        field="level",
        rule="level",
    ),
    w(
        "cohorts",
        "NCT04822922",
        "--decide",
        "resume",
        "--level",
        "low",
        "--reason",
        "DSMB",
        "--decided-on",
        "2027-02-30",
        field="decided on",
        rule="date",
    ),
    w(
        "cohorts",
        "NCT04822922",
        "--decide",
        "stop",
        "--reason",
        "DSMB",
        field="decide",
        rule="cohorts --help",
    ),
    w("cohorts", "NCT0000000", "--review", "1", "--safe", field="protocol", rule="protocol library"),
    w("cohorts", "MSC-ACLF-WEEKLY", "--review", "1", "--safe", field="protocol", rule="escalation"),
    w(
        *REVIEW,
        "--unsafe",
        "--reason",
        "SAE",
        user=NURSE,
        field="authority",
        rule="review",
        audited=("refused",),
    ),
    bad("cohorts", "NCT04822922", "--as-of", "2026-13-01", field="as of", rule="date"),
    bad("cohorts", "NCT04822922", "--review", "one", field="review", rule="not a valid integer"),
    # --- status, overdue, audit ----------------------------------------------------------------------
    bad("status", "S-404", field="subject", rule="S-404", process=True),
    bad("status", "S-001", "--as-of", "2026-13-01", field="as of", rule="date"),
    bad("status", "S-001", "--as-of", "9999-12-31", field="as of", rule="DOSING_LATEST_YEAR"),
    bad("status", "S-001", "--as-of", "0001-01-01", field="as of", rule="DOSING_EARLIEST_YEAR"),
    bad("status", "S-001", "--as-of", "yesterday", field="as of", rule="date"),
    bad("status", "S-001", "--as-of", "2026-12-01T25:00", field="as of", rule="date-time"),
    bad("status", "S-\x1b[2J", field="subject", rule="S-"),
    bad("status", field="subject code", rule="Missing argument"),
    bad("overdue", "--site", "tehran", field="site", rule="a site of a protocol"),
    bad("overdue", "--as-of", "2026-13-01", field="as of", rule="date"),
    bad("overdue", "--as-of", "9999-12-31T00:00", field="as of", rule="DOSING_LATEST_YEAR"),
    w("overdue", "--sweep", "--as-of", "{now}", field="as of", rule="server clock"),
    w("overdue", "--sweep", user=PHARMACIST, field="authority", rule="sweep", audited=("refused",)),
    bad("audit", "--limit", "-1", field="limit", rule="limit"),
    bad("audit", "--limit", "many", field="limit", rule="not a valid integer"),
    bad("audit", "--protocol", "NCT0000000", field="protocol", rule="protocol library"),
    bad("audit", "S-404", field="subject", rule="S-404"),
    w("audit", "verify", user=PHARMACIST, field="authority", rule="verify", audited=("refused",)),
    # --- calendar --------------------------------------------------------------------------------------
    bad("calendar", "S-001", "-o", "{missing}/S-001.ics", field="output", rule="exist", process=True),
    bad("calendar", "S-001", "-o", "{readonly}/S-001.ics", field="output", rule="writ"),
    bad("calendar", "S-001", "-o", "{tmp}", field="output", rule="directory"),
    bad(
        "calendar", "--from", "0001-01-01", "--to", "9999-12-31", field="--from", rule="DOSING_EARLIEST_YEAR"
    ),
    bad("calendar", "--from", "2026-12-01", "--to", "9999-12-31", field="--to", rule="DOSING_LATEST_YEAR"),
    bad("calendar", "--from", "2026-13-01", field="--from", rule="date"),
    bad("calendar", "--from", "2026-12-10", "--to", "2026-12-01", field="--to", rule="on or after"),
    bad("calendar", "--site", "tehran", field="site", rule="a site of a protocol"),
    bad("calendar", "S-001", "--site", "renji-shanghai", field="subject", rule="not both"),
    bad("calendar", "--as-of", "2026-12-01T10:00", field="as of", rule="offset"),
    bad("calendar", "--as-of", "9999-12-31T00:00+00:00", field="as of", rule="DOSING_LATEST_YEAR"),
    bad("calendar", "--alarm-minutes", "-1", field="alarm minutes", rule="range"),
    bad("calendar", "--alarm-minutes", "99999", field="alarm minutes", rule="range"),
    bad("calendar", "S-404", field="subject", rule="S-404"),
    # --- export ----------------------------------------------------------------------------------------
    bad("export", "sdtm", "-o", "{missing}", field="output", rule="exist", process=True),
    bad("export", "sdtm", "-o", "{readonly}", field="output", rule="writ"),
    bad("export", "sdtm", "-o", "{a_file}", field="output", rule="folder"),
    bad("export", "sdtm", "-o", OUT, "--site", "tehran", field="site", rule="a site of a protocol"),
    bad("export", "sdtm", "-o", OUT, "--protocol", "NCT0000000", field="protocol", rule="protocol"),
    bad("export", "sdtm", "-o", OUT, "--as-of", "9999-12-31T00:00", field="as of", rule="DOSING_LATEST_YEAR"),
    bad("export", "sdtm", "-o", OUT, "--as-of", "soon", field="as of", rule="date"),
    w("export", "sdtm", "-o", OUT, user=NURSE, field="authority", rule="export", audited=("refused",)),
    bad("export", "fhir", "-o", "{missing}", field="output", rule="exist"),
    bad("export", "fhir", "-o", "{readonly}", field="output", rule="writ"),
    bad("export", "fhir", "-o", OUT, "--protocol", "NCT0000000", field="protocol", rule="protocol"),
    bad("export", "fhir", "-o", OUT, "--as-of", "2026-02-30", field="as of", rule="date"),
    w("export", "fhir", "-o", OUT, user=PHARMACIST, field="authority", rule="export", audited=("refused",)),
    bad("export", "ec", "-o", "{missing}/ec.csv", field="output", rule="exist"),
    bad("export", "ec", "-o", "{readonly}/ec.csv", field="output", rule="writ"),
    bad("export", "ec", "--protocol", "NCT0000000", field="protocol", rule="protocol"),
    bad("export", "ex", "-o", "{missing}/ex.csv", field="output", rule="exist"),
    bad("export", "ex", "-o", "{readonly}/ex.csv", field="output", rule="writ"),
    bad("export", "ex", "--site", "tehran", field="site", rule="a site of a protocol"),
    bad("export", "ex", "--as-of", "0001-01-01", field="as of", rule="DOSING_EARLIEST_YEAR"),
    bad("export", "xpt", field="usage", rule="No such command"),
    # --- prep (worksheets) -----------------------------------------------------------------------------
    bad("prep", "S-002", "1", "-o", "{missing}", field="output", rule="exist", process=True),
    bad("prep", "S-002", "1", "-o", "{readonly}", field="output", rule="writ"),
    bad("prep", "S-002", "1", "-o", "{a_file}", field="output", rule="folder"),
    bad(
        "prep",
        "--site",
        "renji-shanghai",
        "--from",
        "0001-01-01",
        "--to",
        "9999-12-31",
        "-o",
        OUT,
        field="from",
        rule="DOSING_EARLIEST_YEAR",
    ),
    bad(
        "prep",
        "--site",
        "renji-shanghai",
        "--from",
        "2026-12-01",
        "--to",
        "9999-12-31",
        "-o",
        OUT,
        field="to",
        rule="DOSING_LATEST_YEAR",
    ),
    bad(
        "prep",
        "--site",
        "renji-shanghai",
        "--from",
        "2026-13-01",
        "--to",
        "2026-12-31",
        "-o",
        OUT,
        field="from",
        rule="date",
    ),
    bad(
        "prep",
        "--site",
        "renji-shanghai",
        "--from",
        "2026-12-10",
        "--to",
        "2026-12-01",
        "-o",
        OUT,
        field="to",
        rule="after",
    ),
    bad("prep", "--from", "2026-12-01", "-o", OUT, field="from/to", rule="--to"),
    bad("prep", "S-002", "1", "--weight", "620kg", "-o", OUT, field="weight", rule="300 kg"),
    bad("prep", "S-002", "1", "--weight", "62", "-o", OUT, field="weight", rule="no unit"),
    bad(
        "prep",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-02",
        "--weight",
        "62kg",
        "-o",
        OUT,
        field="weight",
        rule="SUBJECT DOSE",
    ),
    bad("prep", "S-002", "-o", OUT, field="dose", rule="dose number"),
    bad("prep", "S-404", "1", "-o", OUT, field="subject", rule="S-404"),
    bad("prep", "S-002", "0", "-o", OUT, field="dose", rule="dose"),
    bad("prep", "S-002", "99", "-o", OUT, field="dose", rule="dose"),
    bad("prep", "S-002", "1", "--lot", "L999", "-o", OUT, field="lot", rule="L999"),
    bad(
        "prep",
        "S-002",
        "1",
        "--do-not-dispense-days",
        "-3",
        "-o",
        OUT,
        field="do not dispense days",
        rule="range",
    ),
    bad("prep", "S-002", "1", field="output", rule="Missing option"),
    # --- lots ------------------------------------------------------------------------------------------
    # A unit typo (50 L for 50 mL) and a digit typo in the expiry's year (2072 for 2027).
    w(*LOT, "--lot-number", "L900", "--volume", "50L", "--expiry", "2027-06-30", field="volume",
      rule="DOSING_LOT_CONTAINER_MAX_ML", process=True),
    w(*LOT, "--lot-number", "L900", "--volume", "50mL", "--expiry", "2072-06-30", field="expiry",
      rule="DOSING_LOT_SHELF_LIFE_MAX_YEARS"),
    w(
        *LOT,
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-02-30",
        field="expiry",
        rule="date",
        process=True,
    ),
    w(
        *LOT,
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "9999-12-31",
        field="expiry",
        rule="DOSING_LATEST_YEAR",
    ),
    w(
        *LOT,
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "0001-01-01",
        field="expiry",
        rule="DOSING_EARLIEST_YEAR",
    ),
    w(
        *LOT,
        "--lot-number",
        "L900",
        "--volume",
        "-50mL",
        "--expiry",
        "2027-12-31",
        field="volume",
        rule="volume",
    ),
    w(
        *LOT,
        "--lot-number",
        "L900",
        "--volume",
        "0mL",
        "--expiry",
        "2027-12-31",
        field="volume",
        rule="volume",
    ),
    w(*LOT, "--lot-number", "L900", "--volume", "50 kg", "--expiry", "2027-12-31", field="volume", rule="mL"),
    w(
        *LOT,
        "--lot-number",
        "L900",
        "--volume",
        "fifty",
        "--expiry",
        "2027-12-31",
        field="volume",
        rule="volume",
    ),
    w(
        "lots",
        "add",
        "--product",
        "UC-MSC",
        "--concentration",
        "2e12/mL",
        "--viability",
        "95%",
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="concentration",
        rule="concentration_range",
    ),
    w(
        "lots",
        "add",
        "--product",
        "UC-MSC",
        "--concentration",
        "0/mL",
        "--viability",
        "95%",
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="concentration",
        rule="concentration",
    ),
    w(
        "lots",
        "add",
        "--product",
        "UC-MSC",
        "--concentration",
        "-2e6/mL",
        "--viability",
        "95%",
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="concentration",
        rule="concentration",
    ),
    w(
        "lots",
        "add",
        "--product",
        "UC-MSC",
        "--concentration",
        "2e6 mg/mL",
        "--viability",
        "95%",
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="concentration",
        rule="cells",
    ),
    w(
        "lots",
        "add",
        "--product",
        "UC-MSC",
        "--concentration",
        "2e6/mL",
        "--viability",
        "101%",
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="viability",
        rule="100",
    ),
    w(
        "lots",
        "add",
        "--product",
        "UC-MSC",
        "--concentration",
        "2e6/mL",
        "--viability",
        "-5%",
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="viability",
        rule="viability",
    ),
    w(
        "lots",
        "add",
        "--product",
        "Unicorn-MSC",
        "--concentration",
        "2e6/mL",
        "--lot-number",
        "L900",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="product",
        rule="a product of a protocol",
    ),
    w(
        *LOT,
        "--lot-number",
        "L" * 65,
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="lot number",
        rule="1-40",
    ),
    w(
        *LOT,
        "--lot-number",
        "L9\x1b[0m",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="lot number",
        rule="1-40",
    ),
    w(
        *LOT,
        "--din",
        "G123498654321",
        "--check",
        "A",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="check character",
        rule="7064",
    ),
    w(
        *LOT,
        "--din",
        "G1234",
        "--check",
        "H",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        field="din",
        rule="13",
    ),
    w(*LOT, "--volume", "50mL", "--expiry", "2027-12-31", field="lot", rule="lot number"),
    w(*LOT, "--lot-number", "L123", "--volume", "50mL", "--expiry", "2027-12-31", field="lot", rule="L123"),
    w(*LOT_OK, user=NURSE, field="authority", rule="register", audited=("refused",), process=True),
    w(*LOT_OK, "--containers", "0", field="containers", rule="range"),
    bad("lots", "list", "--on", "2026-13-01", field="on", rule="date"),
    bad("lots", "list", "--on", "9999-12-31", field="on", rule="DOSING_LATEST_YEAR"),
    bad("lots", "show", "L999", field="lot", rule="L999"),
    w("lots", "thaw", "L999", "--container", "1", field="lot", rule="L999"),
    w("lots", "thaw", "L123", "--container", "99", field="container", rule="container"),
    w("lots", "thaw", "L123", "--container", "0", field="container", rule="range"),
    w("lots", "quarantine", "L999", "--reason", "visible clumps", field="lot", rule="L999"),
    w("lots", "quarantine", "L123", "--reason", TEN_KB, field="reason", rule="at most 500 characters"),
    w("lots", "quarantine", "L123", "--reason", "clumps\x1b[2J", field="reason", rule="control character"),
    w("lots", "release", "L999", "--reason", "cleared", field="lot", rule="L999"),
    w("lots", "retire", "L123", "--reason", "", field="reason", rule="reason"),
    w(
        "lots",
        "retire",
        "L123",
        "--reason",
        "gone",
        user=NURSE,
        field="authority",
        rule="lot",
        audited=("refused",),
    ),
    # --- bag ---------------------------------------------------------------------------------------------
    w("bag", "prepare", "S-404", "1", field="subject", rule="S-404"),
    w("bag", "prepare", "S-002", "99", field="dose", rule="dose"),
    w("bag", "prepare", "S-002", "0", field="dose", rule="dose"),
    w("bag", "prepare", "S-001", "1", field="dose", rule="recorded"),
    w("bag", "prepare", "S-002", "1", "--lot", "L999", field="lot", rule="L999"),
    w("bag", "prepare", "S-002", "1", user=NURSE, field="authority", rule="prepare", audited=("refused",)),
    w("bag", "verify", "B9999999", "--drawn", "13mL", field="bag", rule="B9999999"),
    w("bag", "verify", "B9999999", "--drawn", "-13mL", field="drawn", rule="value > 0"),
    w("bag", "verify", "B9999999", "--drawn", "lots", field="drawn", rule="quantity with a unit"),
    w("bag", "release", "B9999999", field="bag", rule="B9999999"),
    w("bag", "waste", "B9999999", "--reason", "dropped", field="bag", rule="B9999999"),
    w("bag", "waste", "B9999999", "--reason", TEN_KB, field="reason", rule="at most 500 characters"),
    w("bag", "return", "B9999999", "--reason", "not needed", field="bag", rule="B9999999"),
    w("bag", "void", "B9999999", "--reason", "wrong diluent", field="bag", rule="B9999999"),
    w("bag", "void", "B9999999", "--reason", "x\x07", field="reason", rule="control character"),
    bad("bag", "show", "B9999999", field="bag", rule="B9999999"),
    bad("bag", "label", "B9999999", "-o", OUT, field="bag", rule="B9999999"),
    # --- accounts and sessions ---------------------------------------------------------------------------
    w(
        "users",
        "add",
        "bob",
        "--name",
        "Bob Builder",
        "--role",
        "wizard",
        user=ADMIN,
        field="role",
        rule="wizard",
        process=True,
    ),
    w(
        "users",
        "add",
        "bob",
        "--name",
        TEN_KB,
        "--role",
        "nurse",
        user=ADMIN,
        field="name",
        rule="1-128 printable",
    ),
    w(
        "users",
        "add",
        "bob",
        "--name",
        "Bob\x1b[2J",
        "--role",
        "nurse",
        user=ADMIN,
        field="name",
        rule="1-128 printable",
    ),
    w(
        "users",
        "add",
        "bob smith",
        "--name",
        "Bob",
        "--role",
        "nurse",
        user=ADMIN,
        field="username",
        rule="username",
    ),
    w("users", "add", "", "--name", "Bob", "--role", "nurse", user=ADMIN, field="username", rule="username"),
    w(
        "users",
        "add",
        "TESTER",
        "--name",
        "Tess Again",
        "--role",
        "nurse",
        user=ADMIN,
        field="username",
        rule="tester",
    ),
    w(
        "users",
        "add",
        "bob",
        "--name",
        "Bob",
        "--role",
        "nurse",
        "{short_password}",
        user=ADMIN,
        field="password",
        rule="12",
    ),
    w(
        "users",
        "add",
        "bob",
        "--name",
        "Bob",
        "--role",
        "nurse",
        user=NURSE,
        field="authority",
        rule="manage",
        audited=("refused",),
    ),
    w("users", "disable", "nobody", "--reason", "left", user=ADMIN, field="username", rule="nobody"),
    w(
        "users",
        "disable",
        NURSE,
        "--reason",
        TEN_KB,
        user=ADMIN,
        field="reason",
        rule="at most 500 characters",
    ),
    w(
        "users",
        "disable",
        NURSE,
        "--reason",
        "left",
        user=PHARMACIST,
        field="authority",
        rule="manage",
        audited=("refused",),
    ),
    w("users", "reset-password", "nobody", "{new_password}", user=ADMIN, field="username", rule="nobody"),
    w("users", "reset-password", NURSE, "{short_password}", user=ADMIN, field="password", rule="12"),
    bad("users", "list", user=NURSE, field="authority", rule="manage", audited=("refused",)),
    w(
        "login",
        "nobody",
        "{new_password}",
        field="password",
        rule="wrong username or password",
        audited=("login_failed",),
    ),
    w("login", TESTER, "{empty_password}", field="password", rule="password"),
    # --- calendar feeds -----------------------------------------------------------------------------------
    w("feeds", "create", field="scope", rule="exactly one"),
    w("feeds", "create", "--ward", "renji-shanghai", "--subject", "S-001", field="scope", rule="exactly one"),
    w("feeds", "create", "--ward", "tehran", field="site", rule="a site of a protocol"),
    w("feeds", "create", "--site", "tehran", field="site", rule="a site of a protocol"),
    w("feeds", "create", "--subject", "S-404", field="subject", rule="S-404"),
    w("feeds", "revoke", "999999", field="feed", rule="999999"),
    w("feeds", "revoke", "one", field="feed id", rule="not a valid integer"),
    # --- protocols --------------------------------------------------------------------------------------
    bad("protocols", "show", "NCT0000000", field="protocol", rule="protocol library"),
    bad("protocols", "show", "NCT\x1b[2J", field="protocol", rule="protocol library"),
    # --- preload (refused before a preloader starts) ---------------------------------------------------
    bad("preload", "start", "--idle-minutes", "0", field="idle minutes", rule="1<=x<=10080", process=True),
    bad("preload", "start", "--idle-minutes", "100000", field="idle minutes", rule="1<=x<=10080"),
    bad("preload", "start", "--idle-minutes", "8h", field="idle minutes", rule="preload start --help"),
    # --- flows (refused before Prefect's temporary server starts) -------------------------------------
    w("flows", "run", "enroll-roster", "{roster_binary}", field="roster", rule="UTF-8", process=True),
    w("flows", "run", "enroll-roster", "{roster_latin1}", field="roster", rule="UTF-8"),
    w("flows", "run", "enroll-roster", "{roster_utf16}", field="roster", rule="UTF-8"),
    w("flows", "run", "enroll-roster", "/dev/zero", field="roster", rule="file"),
    w("flows", "run", "enroll-roster", "{missing}/roster.csv", field="roster", rule="does not exist"),
    w("flows", "run", "enroll-roster", "{tmp}", field="roster", rule="directory"),
    w("flows", "run", "enroll-roster", "{roster_duplicate_header}", field="header", rule="named twice"),
    w("flows", "run", "enroll-roster", "{roster_empty}", field="header", rule="empty"),
    w("flows", "run", "enroll-roster", "{roster_no_weight}", field="header", rule="weight"),
    w("flows", "run", "enroll-roster", "{roster_unknown_column}", field="header", rule="dose_per_kilo"),
    w("flows", "run", "enroll-roster", "{roster_ok}", "--batch-size", "0", field="batch size", rule=">= 1"),
    w("flows", "run", "enroll-roster", "{roster_ok}", "--batch-size", "-5", field="batch size", rule=">= 1"),
    bad("flows", "run", "prep", "--hours", "0", field="hours", rule=">= 1"),
    bad("flows", "run", "prep", "--hours", "-1", field="hours", rule=">= 1"),
    bad("flows", "run", "prep", "--hours", "lots", field="hours", rule="not a valid integer"),
    bad("flows", "run", "prep", "--site", "tehran", field="site", rule="a site of a protocol"),
    bad("flows", "run", "prep", "--as-of", "2026-13-01T00:00+00:00", field="as of", rule="date"),
    bad("flows", "run", "prep", "--as-of", "2026-12-01T07:00", field="as of", rule="offset"),
    bad(
        "flows", "run", "prep", "--as-of", "9999-12-31T00:00+00:00", field="as of", rule="DOSING_LATEST_YEAR"
    ),
    bad("flows", "run", "calendars", field="output", rule="Missing option"),
    w("flows", "run", "sweep", "--as-of", "{now}", field="as of", rule="server clock"),
    bad("flows", "serve", "--sweep-at", "25:00", field="sweep at", rule="HH:MM"),
    bad("flows", "serve", "--shift", "7pm", field="shift", rule="HH:MM"),
    bad("flows", "serve", "--prep-hours", "0", field="prep hours", rule=">= 1"),
    bad("flows", "serve", "--limit", "0", field="limit", rule=">= 1"),
    bad("flows", "serve", "--site", "tehran", field="site", rule="a site of a protocol"),
    bad("flows", "automation", field="block", rule="Missing option"),
    # --- db, web, demo ------------------------------------------------------------------------------------
    bad("db", "grant", "dosing_app", field="database", rule="PostgreSQL"),
    bad("db", "grant", "app; DROP TABLE audit_log", field="database", rule="roles exist on PostgreSQL"),
    bad("db", "frobnicate", field="usage", rule="No such command"),
    bad("web", "--port", "0", field="port", rule="range"),
    bad("web", "--port", "70000", field="port", rule="range", process=True),
    bad("web", "--port", "http", field="port", rule="not a valid integer"),
    bad("web", "--workers", "0", field="workers", rule="range"),
    bad("web", "--workers", "65", field="workers", rule="range"),
    bad("web", "--host", "", field="host", rule="host"),
    bad("web", "--host", "not a host!", field="host", rule="host"),
    w("demo", "{roster_binary}", field="roster", rule="UTF-8"),
    w("demo", "{missing}/roster.csv", field="roster", rule="does not exist"),
    # --- anything ---------------------------------------------------------------------------------------
    bad("frobnicate", field="usage", rule="No such command"),
    bad("record", field="subject code", rule="Missing argument"),
    bad(
        "plan",
        "NCT04822922",
        "--arm",
        "high",
        "--weight",
        "62kg",
        "--anchor",
        "2026-12-01",
        "extra",
        field="usage",
        rule="unexpected extra argument",
    ),
]

#: Protocol files for ``dosing protocols validate``: it reports each file (exit 1), never a traceback.
PROTOCOL_FILES: list[tuple[str, str | None, str]] = [
    # (file, the field named (None: the file itself), a fragment of the reason or rule)
    ("binary.yaml", None, "UTF-8"),
    ("latin1.yaml", None, "UTF-8"),
    ("utf16.yaml", None, "UTF-8"),
    ("deep.yaml", None, "nested at most 64 levels"),
    ("laughs.yaml", None, "aliases"),
    ("list.yaml", None, "a mapping at the top level"),
    ("empty.yaml", None, "a mapping at the top level"),
    ("syntax.yaml", None, "valid YAML"),
    ("day0.yaml", "administrations.0.day", "day 0"),
    ("/dev/zero", None, "regular file"),
    ("{missing}/nope.yaml", None, "No such file"),
    ("{tmp}", None, "regular file"),
]

PASSWORDS = {
    "{short_password}": "short\n",
    "{new_password}": "a fresh long password 2027\n",
    "{empty_password}": "\n",
}


# --- the store: seeded once per database, dumped around every case -------------------------------


@dataclass
class Seeded:
    url: str
    root: Path
    states: dict[str, Path]
    moments: dict[str, str]

    def env(self, user: str) -> dict[str, str]:
        return {
            "DOSING_DATABASE_URL": self.url,
            "XDG_STATE_HOME": str(self.states[user]),
            "XDG_DATA_HOME": str(self.root / "data"),
            "NO_COLOR": "1",
        }


#: Per store: each table's columns and ordering (the schema does not change during the run).
_SHAPES: dict[str, list[tuple[str, list[str], str]]] = {}


def _shape(url: str, connection: Any) -> list[tuple[str, list[str], str]]:
    if url not in _SHAPES:
        shapes = []
        inspector = inspect(connection)
        for name in sorted(inspector.get_table_names()):
            columns = [c["name"] for c in inspector.get_columns(name)]
            if name == "login_sessions":
                columns = [c for c in columns if c != "last_seen_at"]
            # By the primary key (ids grow with each insert); PostgreSQL cannot order JSON columns.
            key = inspector.get_pk_constraint(name)["constrained_columns"]
            order = ", ".join(f'"{c}"' for c in key) or ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
            shapes.append((name, columns, order))
        _SHAPES[url] = shapes
    return _SHAPES[url]


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, ordered, as plain tuples: the store as a whole, on SQLite or PostgreSQL.

    Login sessions are compared without ``last_seen_at``: resuming a session to act (or to be refused)
    moves it, by design (the idle timeout)."""
    engine = create_engine(url)
    try:
        tables: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as connection:
            for name, columns, order in _shape(url, connection):
                listed = ", ".join(f'"{c}"' for c in columns)
                rows = connection.execute(text(f'SELECT {listed} FROM "{name}" ORDER BY {order}'))
                tables[name] = [tuple(row) for row in rows]
        return tables
    finally:
        engine.dispose()


def _save_session(url: str, state: Path, username: str) -> None:
    from dosing.store import open_store

    store = open_store(url)
    try:
        log_in_here(store, url, state, username)
    finally:
        store.dispose()


def _seed(url: str, root: Path) -> Seeded:
    from dosing.app import accounts
    from dosing.app.context import Context
    from dosing.store import open_store
    from tests.dosing_cli import sign_in_here

    states = {user: root / f"state-{user}" for user in (ADMIN, TESTER, NURSE, PHARMACIST)}
    sign_in_here(url, states[TESTER])
    store = open_store(url)
    admin = accounts.resume(store, accounts.login(store, ADMIN, PASSWORD)[0])
    accounts.add_user(Context(store=store, actor=admin), NURSE, "Nina Nurse", "nurse", PASSWORD)
    accounts.add_user(Context(store=store, actor=admin), PHARMACIST, "Pat Pharmacist", "pharmacist", PASSWORD)
    store.dispose()
    for user in (ADMIN, NURSE, PHARMACIST):
        _save_session(url, states[user], user)
    now = datetime.now(UTC).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    today = now.date()
    moments = {
        "{today}": today.isoformat(),
        "{tomorrow}": (today + timedelta(days=1)).isoformat(),
        "{in_two_days}": (today + timedelta(days=2)).isoformat(),
        "{a_week_ago}": (today - timedelta(days=7)).isoformat(),
        "{in_a_year}": (today + timedelta(days=366)).isoformat(),
        "{now}": (now - timedelta(minutes=1)).isoformat(timespec="minutes"),
        "{an_hour_ago}": (now - timedelta(hours=1)).isoformat(timespec="minutes"),
        "{in_a_day}": (now + timedelta(days=1)).isoformat(timespec="minutes"),
    }
    seeded = Seeded(url, root, states, moments)
    for args in (
        (
            "enroll",
            "NCT04822922",
            "--subject",
            "S-001",
            "--arm",
            "low",
            "--weight",
            "62kg",
            "--anchor",
            today.isoformat(),
            *ELIGIBLE_OPTIONS,
        ),
        (
            "enroll",
            "NCT04822922",
            "--subject",
            "S-002",
            "--arm",
            "low",
            "--weight",
            "62kg",
            "--anchor",
            today.isoformat(),
            *ELIGIBLE_OPTIONS,
        ),
        (
            "lots",
            "add",
            "--lot-number",
            "L123",
            "--product",
            "UC-MSC",
            "--concentration",
            "2e6/mL",
            "--viability",
            "95%",
            "--volume",
            "50mL",
            "--expiry",
            "2027-12-31",
        ),
        (
            "record",
            "S-001",
            "--dose",
            "1",
            "--at",
            moments["{an_hour_ago}"],
            "--lot",
            "L123",
            "--password-stdin",
        ),
    ):
        result = CliRunner().invoke(main(), list(args), env=seeded.env(TESTER), input=PASSWORD + "\n")
        assert result.exit_code == 0, (args, result.output)
    _write_files(root)
    return seeded


def main() -> Any:
    from dosing.cli import main as entry_point

    return entry_point


def _write_files(root: Path) -> None:
    """The files a person might hand the CLI: rosters and protocols, broken the ways found in use."""
    files = root / "files"
    files.mkdir()
    header = "subject_code,protocol,arm,weight,anchor,site,dose_per_kg\n"
    row = "RJ-901,NCT04822922,low,62 kg,2026-12-01,renji-shanghai,\n"
    (files / "roster_ok.csv").write_text(header + row)
    (files / "roster_binary.csv").write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)) * 4)
    (files / "roster_latin1.csv").write_bytes(
        (header + "RJ-902,NCT04822922,low,62 kg,2026-12-01,Zürich,\n").encode("latin-1")
    )
    (files / "roster_utf16.csv").write_bytes((header + row).encode("utf-16"))
    (files / "roster_duplicate_header.csv").write_text(
        "subject_code,protocol,arm,weight,weight,anchor\nRJ-903,NCT04822922,low,62 kg,620 kg,2026-12-01\n"
    )
    (files / "roster_empty.csv").write_text("")
    (files / "roster_unknown_column.csv").write_text(header.replace("dose_per_kg", "dose_per_kilo") + row)
    (files / "roster_no_weight.csv").write_text(
        "subject_code,protocol,anchor\nRJ-904,NCT04822922,2026-12-01\n"
    )
    (files / "roster_big_cell.csv").write_text(
        header + 'RJ-905,NCT04822922,low,62 kg,2026-12-01,"' + "x" * 131_073 + '",\n'
    )
    protocol = (Path(__file__).parents[2] / "protocols" / "NCT04822922.yaml").read_text(encoding="utf-8")
    (files / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (files / "latin1.yaml").write_bytes(
        protocol.replace("title:", "title: Zürich", 1).encode("latin-1", "replace")
    )
    (files / "utf16.yaml").write_bytes(protocol.encode("utf-16"))
    (files / "deep.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for index in range(1, 12):
        laughs.append(
            f"{chr(97 + index)}: &{chr(97 + index)} [" + ", ".join([f"*{chr(96 + index)}"] * 10) + "]"
        )
    (files / "laughs.yaml").write_text("\n".join(laughs) + "\n")
    (files / "list.yaml").write_text("- id: NCT0\n- id: NCT1\n")
    (files / "empty.yaml").write_text("")
    (files / "syntax.yaml").write_text("id: [unclosed\n  title: : :\n")
    (files / "day0.yaml").write_text(protocol.replace("day: 1", "day: 0", 1))


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    root = tmp_path_factory.mktemp("bad-inputs-sqlite")
    return _seed(f"sqlite:///{root / 'ledger.db'}", root)


@pytest.fixture(scope="module")
def postgresql_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    problem = _pg_reachable()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable under CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schema = f"bad_inputs_{SESSION_TAG}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _seed(pg_url_for(schema), tmp_path_factory.mktemp("bad-inputs-postgres"))
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest) -> Seeded:
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


# --- running a case ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    exit_code: int
    stderr: str
    stdout: str
    crash: str | None = None


def _arguments(case: Bad, seeded: Seeded, scratch: Path) -> tuple[list[str], str | None]:
    places = {
        **seeded.moments,
        "{tmp}": str(scratch),
        "{missing}": str(scratch / "no" / "such" / "folder"),
        "{readonly}": str(scratch / "readonly"),
        "{a_file}": str(scratch / "a-file.txt"),
    }
    for path in (seeded.root / "files").iterdir():
        places["{" + path.stem + "}"] = str(path)
    args: list[str] = []
    stdin: str | None = None
    for arg in case.args:
        if arg in PASSWORDS:
            args.append("--password-stdin")
            stdin = PASSWORDS[arg]
            continue
        for key, value in places.items():
            arg = arg.replace(key, value)
        args.append(arg)
    sets_a_password = tuple(args[:2]) in {("users", "add"), ("users", "reset-password")}
    if (sets_a_password or args[:1] == ["login"]) and "--password-stdin" not in args:
        args.append("--password-stdin")
        stdin = PASSWORDS["{new_password}"]
    if _signs(tuple(args)) and "--password-stdin" not in args:
        args.append("--password-stdin")
        stdin = PASSWORD + "\n"
    return args, stdin


def _scratch(tmp_path: Path) -> Path:
    (tmp_path / "readonly").mkdir(mode=0o555)
    (tmp_path / "out").mkdir()
    (tmp_path / "a-file.txt").write_text("not a folder\n")
    return tmp_path


def _skip_where_permissions_do_not_apply(case: Bad) -> None:
    if any("{readonly}" in arg for arg in case.args) and os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder: no folder is read-only to this test")


def run_in_process(case: Bad, seeded: Seeded, scratch: Path) -> Outcome:
    _skip_where_permissions_do_not_apply(case)
    args, stdin = _arguments(case, seeded, scratch)
    result = CliRunner().invoke(main(), args, env=seeded.env(case.user), input=stdin)
    crash = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(result.exception))
    return Outcome(result.exit_code, result.stderr, result.stdout, crash)


def run_as_process(case: Bad, seeded: Seeded, scratch: Path) -> Outcome:
    args, stdin = _arguments(case, seeded, scratch)
    env = {**os.environ, **seeded.env(case.user), "DO_NOT_TRACK": "1"}
    for name in ("LD_PRELOAD", "FAKETIME"):
        env.pop(name, None)
    if case.clock_days is not None:
        moment = datetime.now(UTC) + timedelta(days=case.clock_days)
        env.update(faketime_env(moment.isoformat(timespec="seconds")))
    done = subprocess.run(
        [str(DOSING), *args], env=env, capture_output=True, text=True, input=stdin, timeout=180, cwd=scratch
    )
    return Outcome(done.returncode, done.stderr, done.stdout)


def _audit_actions(rows: list[tuple[Any, ...]], url: str) -> list[str]:
    columns = next(columns for name, columns, _ in _SHAPES[url] if name == "audit_log")
    return [str(row[columns.index("action")]) for row in rows]


def assert_refused(
    case: Bad, seeded: Seeded, outcome: Outcome, before: dict[str, list[tuple[Any, ...]]]
) -> None:
    assert outcome.crash is None, outcome.crash
    assert outcome.exit_code == 2, (outcome.exit_code, outcome.stdout, outcome.stderr)
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr
    assert outcome.stderr.startswith(f"error: {case.field}: "), outcome.stderr[:2000]
    assert "(rule: " in outcome.stderr, outcome.stderr[:2000]
    assert case.rule in outcome.stderr, outcome.stderr[:2000]
    after = dump(seeded.url)
    added_audit = after["audit_log"][len(before["audit_log"]) :]
    assert after["audit_log"][: len(before["audit_log"])] == before["audit_log"]
    assert sorted(_audit_actions(added_audit, seeded.url)) == sorted(case.audited)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


def _case_id(case: Bad) -> str:
    words = " ".join(case.args)[:70]
    return "".join(c if c.isprintable() else "?" for c in words) or "(none)"


READS = [case for case in CASES if not case.writes]
WRITES = [case for case in CASES if case.writes]


def test_the_table_is_large_and_distinct() -> None:
    assert len({(*case.args, case.user) for case in CASES}) == len(CASES)
    assert len(CASES) + len(PROTOCOL_FILES) >= 200


@pytest.mark.parametrize("case", READS, ids=_case_id)
def test_a_bad_input_to_a_read_is_refused(case: Bad, sqlite_store: Seeded, tmp_path: Path) -> None:
    scratch = _scratch(tmp_path)
    before = dump(sqlite_store.url)
    assert_refused(case, sqlite_store, run_in_process(case, sqlite_store, scratch), before)


@pytest.mark.parametrize("case", WRITES, ids=_case_id)
def test_a_bad_input_to_a_change_is_refused_and_nothing_is_stored(
    case: Bad, seeded: Seeded, tmp_path: Path
) -> None:
    scratch = _scratch(tmp_path)
    before = dump(seeded.url)
    assert_refused(case, seeded, run_in_process(case, seeded, scratch), before)


@pytest.mark.parametrize(("name", "field", "words"), PROTOCOL_FILES, ids=[p[0] for p in PROTOCOL_FILES])
def test_a_bad_protocol_file_is_reported_invalid_by_its_field(
    name: str, field: str | None, words: str, sqlite_store: Seeded, tmp_path: Path
) -> None:
    # `protocols validate` reports each file (its documented exit status for an invalid one is 1).
    scratch = _scratch(tmp_path)
    files = sqlite_store.root / "files"
    path = name.replace("{missing}", str(scratch / "no" / "such")).replace("{tmp}", str(scratch))
    if "/" not in path:
        path = str(files / path)
    result = CliRunner().invoke(main(), ["protocols", "validate", path], env=sqlite_store.env(TESTER))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout.startswith(f"invalid {path}: ")
    assert "Traceback" not in result.output
    named = [f"{path}: {path}: ", f"{path}: {Path(path).name}: "] if field is None else [f": {field}: "]
    assert any(prefix in result.stdout for prefix in named), result.stdout[:2000]
    assert "(rule: " in result.stdout and words in result.stdout, result.stdout[:2000]


#: Refused only because of the machine's clock: run as a process whose clock libfaketime sets two days
#: back, the way a ward machine with a wrong clock would (never in process, where they would pass).
CLOCK_CASES = [
    w(*RECORD, field="at", rule="future", clock_days=-2),
    w(
        *ENROLL_OK,
        "--weight-measured-on",
        "{today}",
        field="weight measured on",
        rule="in the future",
        clock_days=-2,
    ),
    w(*SKIP, "--reason", "held", "--at", "{now}", field="at", rule="future", clock_days=-2),
]
PROCESS_READS = [case for case in CASES if case.process and not case.writes]
PROCESS_WRITES = [case for case in CASES if case.process and case.writes] + CLOCK_CASES


@pytest.mark.parametrize("case", PROCESS_READS, ids=_case_id)
def test_as_a_process_a_bad_input_to_a_read_is_refused(
    case: Bad, sqlite_store: Seeded, tmp_path: Path
) -> None:
    scratch = _scratch(tmp_path)
    before = dump(sqlite_store.url)
    assert_refused(case, sqlite_store, run_as_process(case, sqlite_store, scratch), before)


@pytest.mark.parametrize("case", PROCESS_WRITES, ids=_case_id)
def test_as_a_process_a_bad_input_to_a_change_is_refused(
    case: Bad, sqlite_store: Seeded, tmp_path: Path
) -> None:
    # On SQLite only: the in-process run above covers PostgreSQL for the same cases.
    scratch = _scratch(tmp_path)
    before = dump(sqlite_store.url)
    assert_refused(case, sqlite_store, run_as_process(case, sqlite_store, scratch), before)
