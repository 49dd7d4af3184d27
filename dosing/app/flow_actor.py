"""Who a Prefect flow acts as: the person who started it, or the flow's named service account.

``dosing flows run`` resumes the person's login session and runs the flow inside
:func:`acting_as`; a scheduled run (a worker, ``flows serve``) has no person behind it and acts as
``svc-<flow>``, a service account with the service role only, whose audit entries say so. Identity
never travels as a flow parameter: parameters are stored on the Prefect server and anyone who can
trigger a deployment could set them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from dosing.app.accounts import actor_of, service_actor
from dosing.app.context import Actor, Context
from dosing.errors import DosingError
from dosing.store import accounts as stored
from dosing.store.db import Store

_acting: ContextVar[Actor | None] = ContextVar("dosing_acting", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def flow_context(store: Store, flow_name: str) -> Context:
    """The context a flow runs in: the person who started it here, else the flow's service account."""
    return Context(store=store, actor=_acting.get() or service_actor(store, flow_name))


def acting_username() -> str | None:
    """The username of the person who started the flow here (None for a scheduled run)."""
    actor = _acting.get()
    return actor.username if actor is not None else None


def task_context(store: Store, username: str | None, flow_name: str) -> Context:
    """The flow's actor inside a task: the person who started the flow (tasks get the username from
    their flow, in process), else the flow's service account."""
    if username is None:
        return Context(store=store, actor=service_actor(store, flow_name))
    with store.session() as session:
        account = stored.find_account(session, username)
    if account is None or account.disabled or account.locked:
        raise DosingError("account", "an enabled account", f"{username} may not act")
    return Context(store=store, actor=actor_of(account))
