"""Access policy: site settings for passwords, sessions, lockout and late entries (``DOSING_`` prefix).

| setting | default | meaning |
| --- | --- | --- |
| ``DOSING_SESSION_IDLE_MINUTES`` | 15 | a session unused this long ends; log in again |
| ``DOSING_MAX_FAILED_LOGINS`` | 5 | consecutive wrong passwords (login or signature) that lock an account |
| ``DOSING_PASSWORD_MIN_LENGTH`` | 12 | shortest password accepted |
| ``DOSING_LATE_ENTRY_HOURS`` | 24 | an administration started longer ago is a late entry: needs a reason |
| ``DOSING_CLOCK_SKEW_MINUTES`` | 5 | how far in the future a typed time may be (a ward clock a little fast) |
"""

from __future__ import annotations

from pydantic import Field

from dosing.settings import EnvironmentSettings


class AccessPolicy(EnvironmentSettings):
    session_idle_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_failed_logins: int = Field(default=5, ge=1, le=20)
    password_min_length: int = Field(default=12, ge=8, le=64)
    late_entry_hours: int = Field(default=24, ge=1, le=24 * 14)
    clock_skew_minutes: int = Field(default=5, ge=0, le=60)


def get_policy() -> AccessPolicy:
    from dosing.settings import load_settings

    return load_settings(AccessPolicy)
