"""The missed-dose automation (``automations/missed-dose.yaml``) installed on a site's Prefect server
with the notification block the site configured, by name rather than by id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import yaml

from dosing.errors import DosingError

AUTOMATION_FILE = Path(__file__).resolve().parent.parent / "automations" / "missed-dose.yaml"
PLACEHOLDER = "BLOCK_DOCUMENT_ID"


def automation_definition(block_document_id: str, path: Path = AUTOMATION_FILE) -> dict[str, Any]:
    """The automation from ``path`` with its notification actions pointed at the block."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    for action in data.get("actions", []):
        if action.get("block_document_id") == PLACEHOLDER:
            action["block_document_id"] = block_document_id
    return data


def install_automation(block: str, path: Path = AUTOMATION_FILE) -> tuple[str, bool]:
    """Create (or update, when one of the same name exists) the automation; returns (id, created).

    ``block`` is ``type-slug/name``, e.g. ``webhook/coordinator-on-call``; the block must exist.
    """
    from prefect.automations import Automation
    from prefect.blocks.core import Block

    try:
        loaded = cast(Block, Block.load(block))
    except (ValueError, KeyError) as error:
        raise DosingError(
            "block", "a notification block configured on the server (type/name)", f"{block!r}: {error}"
        ) from error
    block_id = loaded._block_document_id
    if block_id is None:
        raise DosingError("block", "a saved block", f"{block!r} has no id")
    definition = automation_definition(str(block_id), path)
    try:
        existing = cast(Automation, Automation.read(name=definition["name"]))
    except ValueError:
        created = cast(Automation, Automation.model_validate(definition).create())
        return str(created.id), True
    updated = Automation.model_validate({**definition, "id": existing.id})
    updated.update()
    return str(existing.id), False
