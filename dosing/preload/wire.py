"""Messages between ``dosing`` and its preloader: a 4-byte length, then the message in ``marshal``'s
format (both ends are the same interpreter: the fingerprint says so; ``json`` would cost every command
the import of ``re``); file descriptors (the caller's standard streams and terminal) travel with a
message's first bytes. Standard library only, and nothing that ``dosing`` would not import anyway.

Only values of ``dict``, ``list``, ``str``, ``int``, ``bool`` and ``None`` are sent, and only between
processes of one user (the preloader checks the peer's credentials).
"""

from __future__ import annotations

import _socket
import marshal
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs every command 10 ms to import
    from typing import Any

#: A message longer than this is refused (a request is an environment and arguments: a few KiB).
MAX_MESSAGE_BYTES = 1 << 20
MAX_DESCRIPTORS = 4


class WireError(Exception):
    """The other end closed the connection, or sent something that is not a message."""


def send(connection: _socket.socket, message: dict[str, Any], descriptors: list[int] | None = None) -> None:
    body = marshal.dumps(message)
    data = struct.pack(">I", len(body)) + body
    if descriptors:
        # socket.send_fds, without importing `socket` (selectors) or `array` (collections): 12 ms.
        packed = struct.pack(f"{len(descriptors)}i", *descriptors)
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, packed)]
        sent = connection.sendmsg([data], rights)
        data = data[sent:]
    if data:
        connection.sendall(data)


def receive(connection: _socket.socket, max_descriptors: int = 0) -> tuple[dict[str, Any], list[int]]:
    """One message and the descriptors that came with it; ``WireError`` on a closed connection."""
    descriptors: list[int] = []
    header = b""
    try:
        while len(header) < 4:
            if max_descriptors and not descriptors:
                data, fds = _receive_descriptors(connection, 4 - len(header), max_descriptors)
                descriptors.extend(fds)
            else:
                data = connection.recv(4 - len(header))
            if not data:
                raise WireError("the connection was closed")
            header += data
        (length,) = struct.unpack(">I", header)
        if length > MAX_MESSAGE_BYTES:
            raise WireError(f"a message of {length} bytes")
        body = bytearray()
        while len(body) < length:
            chunk = connection.recv(length - len(body))
            if not chunk:
                raise WireError("the connection was closed in a message")
            body += chunk
        try:
            message = marshal.loads(bytes(body))
        except (ValueError, EOFError, TypeError) as error:
            raise WireError(f"a message that cannot be read: {error}") from None
        if not isinstance(message, dict):
            raise WireError("a message that is not an object")
        return message, descriptors
    except BaseException:
        for descriptor in descriptors:
            _close(descriptor)
        raise


def _receive_descriptors(connection: _socket.socket, size: int, most: int) -> tuple[bytes, list[int]]:
    """socket.recv_fds: bytes, and the descriptors that came with them (more than ``most``: closed)."""
    width = struct.calcsize("i")
    data, ancillary, flags, _address = connection.recvmsg(size, _socket.CMSG_LEN(most * width))
    descriptors: list[int] = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            count = len(payload) // width
            descriptors.extend(struct.unpack(f"{count}i", payload[: count * width]))
    if flags & _socket.MSG_CTRUNC:
        for descriptor in descriptors:
            _close(descriptor)
        raise WireError("more descriptors than a request holds")
    return data, descriptors


def _close(descriptor: int) -> None:
    try:  # noqa: SIM105 - contextlib costs every command 4 ms to import
        os.close(descriptor)
    except OSError:
        pass
