"""The agent's link to the collector. `Transport` is the seam: unit tests use an in-memory
collector, integration tests the real one over gRPC."""

import abc
import asyncio
from types import TracebackType

import grpc

from lantern.grpc_options import CLIENT_OPTIONS
from lantern.pki import COLLECTOR_TLS_NAME
from lantern.v1 import lantern_pb2 as pb
from lantern.v1 import lantern_pb2_grpc as pb_grpc


class TransportError(Exception):
    """The collector could not be reached or the stream broke; the caller retries."""


class Stream(abc.ABC):
    """One open Connect stream."""

    @abc.abstractmethod
    async def write(self, message: pb.AgentMessage) -> None: ...

    @abc.abstractmethod
    async def read(self) -> pb.CollectorMessage | None:
        """The next message, or None when the collector closed the stream."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> "Stream":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Transport(abc.ABC):
    @abc.abstractmethod
    async def enrol(self, request: pb.EnrolRequest) -> pb.EnrolResponse: ...

    @abc.abstractmethod
    async def connect(self) -> Stream: ...


class GrpcStream(Stream):
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self._call = pb_grpc.IngestStub(channel).Connect()

    async def write(self, message: pb.AgentMessage) -> None:
        try:
            await self._call.write(message)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError) as exc:
            raise TransportError(_describe(exc)) from exc
        except asyncio.InvalidStateError as exc:
            # grpc.aio raises this from write() on a call the collector has already torn down
            # (seen after kill -9 and network cuts): it is a broken stream like any other.
            raise TransportError(f"stream already closed: {exc}") from exc

    async def read(self) -> pb.CollectorMessage | None:
        try:
            message = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise TransportError(_describe(exc)) from exc
        except asyncio.InvalidStateError as exc:
            raise TransportError(f"stream already closed: {exc}") from exc
        if message is grpc.aio.EOF:
            return None
        assert isinstance(message, pb.CollectorMessage)
        return message

    async def close(self) -> None:
        self._call.cancel()
        await self._channel.close(grace=None)


class GrpcTransport(Transport):
    """A new channel per connection, so a reconnect resolves the collector's name afresh.

    With `tls`, the channel trusts only the pinned collector CA and checks the fixed name every
    collector certificate carries; `client_cert` adds mutual TLS (every Connect)."""

    def __init__(
        self,
        address: str,
        *,
        ca_pem: bytes | None = None,
        client_key: bytes | None = None,
        client_cert: bytes | None = None,
    ) -> None:
        self.address = address
        self._credentials = (
            grpc.ssl_channel_credentials(ca_pem, client_key, client_cert) if ca_pem else None
        )

    def _channel(self) -> grpc.aio.Channel:
        if self._credentials is None:
            return grpc.aio.insecure_channel(self.address, options=CLIENT_OPTIONS)
        options = [*CLIENT_OPTIONS, ("grpc.ssl_target_name_override", COLLECTOR_TLS_NAME)]
        return grpc.aio.secure_channel(self.address, self._credentials, options=options)

    async def enrol(self, request: pb.EnrolRequest) -> pb.EnrolResponse:
        async with self._channel() as channel:
            try:
                response: pb.EnrolResponse = await pb_grpc.IngestStub(channel).Enrol(
                    request, timeout=30
                )
            except grpc.aio.AioRpcError as exc:
                raise TransportError(_describe(exc)) from exc
            return response

    async def connect(self) -> Stream:
        return GrpcStream(self._channel())

    async def renew(self, request: pb.RenewRequest) -> pb.RenewResponse:
        async with self._channel() as channel:
            try:
                response: pb.RenewResponse = await pb_grpc.IngestStub(channel).Renew(
                    request, timeout=30
                )
            except grpc.aio.AioRpcError as exc:
                raise TransportError(_describe(exc)) from exc
            return response


def _describe(exc: grpc.aio.AioRpcError | grpc.aio.UsageError) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc)
