"""The protocol library: the YAML files shipped in the ``protocols`` package, validated on load.

Reading files is the one piece of I/O the core allows itself, because protocol files are part of the
installed package (``importlib.resources``), not user data.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dosing.errors import DosingError, ProtocolError
from dosing.protocol import FieldRuleError, Protocol

#: libyaml's safe loader when PyYAML was built with it (8x faster start-up), else the pure-Python one.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _validation_message(error: ValidationError) -> tuple[str, str]:
    errors = error.errors()
    # In a union (a window is either before/after or earliest/latest days) pydantic reports every
    # member; a broken rule says more than "field required" for the member the author did not mean.
    first = next((e for e in errors if e["type"] == "value_error"), errors[0])
    # Drop the union-member tags pydantic puts in a location ("TargetWindow", "function-after[...]").
    parts = [
        str(part) for part in first["loc"] if isinstance(part, int) or not (part[:1].isupper() or "[" in part)
    ]
    message = first["msg"]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, Exception):
        message = str(cause)  # without pydantic's "Value error, " prefix
    if isinstance(cause, FieldRuleError):
        # A rule between fields is raised by the model that holds them; it names the field itself.
        parts.append(cause.location)
    return ".".join(parts) or "protocol", message


#: A protocol is a few levels deep and names few aliases; more is a broken or hostile file (the
#: YAML composer recurses per level and crashes the interpreter at ~50,000, and aliases multiply).
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 100


def _check_yaml_shape(text: str, source: str) -> None:
    depth = aliases = 0
    opening = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
               yaml.FlowSequenceStartToken)  # fmt: skip
    closing = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    for token in yaml.scan(text, Loader=_SAFE_LOADER):
        if isinstance(token, opening):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise ProtocolError(
                    source, f"YAML nested at most {MAX_YAML_DEPTH} levels", "the file nests deeper"
                )
        elif isinstance(token, closing):
            depth -= 1
        elif isinstance(token, yaml.AliasToken):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise ProtocolError(
                    source, f"at most {MAX_YAML_ALIASES} YAML aliases", "the file repeats more aliases"
                )


def parse_protocol(text: str, *, source: str) -> Protocol:
    """Validate one protocol file's text; errors name the file, the field and the rule."""
    try:
        _check_yaml_shape(text, source)
        data: Any = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as error:
        raise ProtocolError(source, "valid YAML", str(error).replace("\n", " ")) from error
    if not isinstance(data, dict):
        raise ProtocolError(source, "a mapping at the top level", "the file is not a protocol definition")
    try:
        return Protocol.model_validate(data)
    except ValidationError as error:
        location, message = _validation_message(error)
        raise ProtocolError(
            f"{source}: {location}", "protocol schema (protocols/schema.json)", message
        ) from error
    except DosingError as error:
        raise ProtocolError(f"{source}: {error.field}", error.rule, error.message) from error


def load_protocol_file(path: Path) -> Protocol:
    try:
        if path.exists() and not path.is_file():
            # A folder, /dev/zero, a FIFO: reading it would fail or never end.
            raise ProtocolError(str(path), "a readable protocol file", "not a regular file")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        why = f"byte {error.start} is not UTF-8 (save the file as UTF-8)"
        raise ProtocolError(path.name, "a UTF-8 YAML text file", why) from error
    except OSError as error:
        raise ProtocolError(str(path), "a readable protocol file", error.strerror or str(error)) from error
    return parse_protocol(text, source=path.name)


@cache
def library() -> dict[str, Protocol]:
    """Every protocol shipped with the engine, by study code."""
    protocols: dict[str, Protocol] = {}
    for entry in sorted(resources.files("protocols").iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".yaml", ".yml")):
            protocol = parse_protocol(entry.read_text(encoding="utf-8"), source=entry.name)
            if protocol.id in protocols:
                raise ProtocolError(entry.name, "unique protocol ids", f"{protocol.id} is defined twice")
            protocols[protocol.id] = protocol
    return protocols


def get_protocol(protocol_id: str) -> Protocol:
    protocols = library()
    if protocol_id in protocols:
        return protocols[protocol_id]
    # Registry ids (NCT...) are accepted as well as the study codes of records without one.
    for protocol in protocols.values():
        if protocol.registry_id == protocol_id:
            return protocol
    known = ", ".join(sorted(protocols))
    raise DosingError(
        "protocol", f"one of the protocol library ({known})", f"unknown protocol {protocol_id!r}"
    )


def known_sites() -> list[str]:
    """Every site id of every protocol in the library, sorted."""
    return sorted({site.id for protocol in library().values() for site in protocol.sites})


def check_site(site_id: str, field: str = "site") -> str:
    """``site_id`` when a protocol of the library has that site; refused with the known ones otherwise.

    A mistyped site would select nothing and look like a quiet ward (no overdue dose, an empty prep
    list or calendar): every command and flow that filters by site asks here first.
    """
    known = known_sites()
    if site_id not in known:
        raise DosingError(
            field, f"a site of a protocol in the library ({', '.join(known)})", f"unknown site {site_id!r}"
        )
    return site_id


def json_schema() -> str:
    """The JSON Schema for protocol files, as published in ``protocols/schema.json``."""
    schema = Protocol.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Cell-therapy dosing protocol"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
