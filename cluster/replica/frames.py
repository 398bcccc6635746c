"""The token channel's wire format: length-prefixed msgpack frames over one TCP connection per
(gateway, replica) pair.

gateway → replica: `Hello` once (the secret the replica gave the gateway through Ray), then
`Submit` and `Cancel`, each naming a stream by a number the gateway chose.
replica → gateway: `Step` frames, each carrying what every stream of that gateway produced since
the last frame (one engine step, or several when the gateway reads slower than the engine
writes), and the streams that failed.

msgspec decodes into these types only, and checks them: nothing on the wire is evaluated as code.
"""

import asyncio
import struct

import msgspec

from cluster.types import EngineRequest, FinishReason

MAX_FRAME_BYTES = 64 * 1024 * 1024  # a prompt at 131,072 tokens is under 1 MiB; this bounds a broken peer
_LENGTH = struct.Struct(">I")


class Hello(msgspec.Struct, tag="hello", array_like=True):
    secret: str


class Submit(msgspec.Struct, tag="submit", array_like=True):
    stream: int
    request: EngineRequest


class Cancel(msgspec.Struct, tag="cancel", array_like=True):
    stream: int


class Step(msgspec.Struct, tag="step", array_like=True):
    chunks: list[tuple[int, list[int], FinishReason | None]]  # (stream, token ids, finish)
    failures: list[tuple[int, str, str]] = []  # (stream, kind: INVALID, DRAINING or FAILED, message)


# Why a stream failed: the engine rejected the request, the replica is draining, or anything else.
INVALID, DRAINING, FAILED = "invalid", "draining", "failed"

TO_REPLICA = msgspec.msgpack.Decoder(Hello | Submit | Cancel)
TO_GATEWAY = msgspec.msgpack.Decoder(Step)
_encoder = msgspec.msgpack.Encoder()


class FrameError(Exception):
    """The peer sent something that is not a frame of this protocol; the connection is closed."""


def encode(message: msgspec.Struct) -> bytes:
    body = _encoder.encode(message)
    return _LENGTH.pack(len(body)) + body


async def read(reader: asyncio.StreamReader, decoder: msgspec.msgpack.Decoder):
    """The next message; `asyncio.IncompleteReadError` at the end of the connection."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"a frame of {length} bytes is over the limit of {MAX_FRAME_BYTES}")
    try:
        return decoder.decode(await reader.readexactly(length))
    except msgspec.DecodeError as exc:
        raise FrameError(str(exc)) from None
