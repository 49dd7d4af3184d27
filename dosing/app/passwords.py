"""Passwords: the stated policy, and hashing with Argon2id (memory-hard; argon2-cffi's defaults,
RFC 9106's low-memory profile). Only the hash is stored; verification is constant-time in the library.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dosing.errors import DosingError

_HASHER = PasswordHasher()

#: Refused whatever their length: the passwords people try first.
_COMMON = {
    "password",
    "passwordpassword",
    "123456789012",
    "qwertyuiopas",
    "changemechangeme",
    "letmeinletmein",
}


def check_policy(password: str, username: str, min_length: int) -> None:
    """The password policy, stated in the rule of each refusal."""
    rule = (
        f"at least {min_length} characters, not the username, not one repeated character, "
        "not a common password"
    )
    if len(password) < min_length:
        raise DosingError("password", rule, f"a password needs at least {min_length} characters")
    if len(password) > 128:
        raise DosingError("password", "at most 128 characters", "the password is longer than 128 characters")
    if username.lower() in password.lower():
        raise DosingError("password", rule, "the password contains the username")
    if len(set(password)) == 1 or password.lower() in _COMMON:
        raise DosingError("password", rule, "the password is too easy to guess")
    if any(ord(character) < 32 for character in password):
        raise DosingError("password", "printable characters only", "the password has a control character")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
