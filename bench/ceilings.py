"""The ceilings every figure is divided by, measured in the same run on the same machine.

- echo: a bare grpc.aio server with one unary bytes-in/bytes-out method, driven by the
  same load-generator machinery as the services (same channel, same workers).
- pg_update: raw psycopg conditional-UPDATE transactions (BEGIN; UPDATE … WHERE
  guest_id IS NULL; COMMIT), one connection per call in flight, same database.
- smtp_send: a raw aiosmtplib send loop, one connection per call in flight, to the
  same SMTP sink the notification service delivers to.

The echo server and the SMTP sink run in processes of their own (`ChildServer`).
"""

from __future__ import annotations

import asyncio
from multiprocessing.connection import Connection
from typing import Any

import grpc
import psycopg

from bench.load import Call, Exhausted, LoadSpec, channels
from bench.services import ChildServer
from servicekit.lifecycle import SERVER_OPTIONS

ECHO_METHOD = "/bench.v1.Echo/Echo"
CEILING_TABLE = "bench_ceiling"


# --- gRPC echo -------------------------------------------------------------------------


def _echo_main(port: int, ready: Connection) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def main() -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        handler = grpc.method_handlers_generic_handler(
            "bench.v1.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
        )
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.send("ready")
        await server.wait_for_termination()

    asyncio.run(main())


def echo_server() -> ChildServer:
    return ChildServer("echo", _echo_main)


class EchoClient:
    def __init__(self, spec: LoadSpec) -> None:
        self.channel = channels(spec.target, 1)[0]
        self.echo = self.channel.unary_unary(ECHO_METHOD)  # bytes in, bytes out
        self.payload = b"x" * int(spec.params.get("size", 400))

    def caller(self, worker: int) -> Call:
        async def call() -> object:
            return await self.echo(self.payload)

        return call

    async def close(self) -> None:
        await self.channel.close()


async def echo(spec: LoadSpec) -> EchoClient:
    return EchoClient(spec)


# --- PostgreSQL conditional UPDATE -------------------------------------------------------


def prepare_pg_table(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {CEILING_TABLE}")
        conn.execute(
            f"""CREATE TABLE {CEILING_TABLE} (
                    id bigint PRIMARY KEY, guest_id text, sequence integer NOT NULL,
                    update_time timestamptz)"""
        )
        conn.execute(
            f"INSERT INTO {CEILING_TABLE} (id, sequence) SELECT g, 0 FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute(f"VACUUM ANALYZE {CEILING_TABLE}")


class PgClient:
    """Worker w of process p updates rows p*share + w, stepping by in_flight."""

    _UPDATE = (
        f"UPDATE {CEILING_TABLE} SET guest_id = %s, sequence = sequence + 1, update_time = now()"
        " WHERE id = %s AND guest_id IS NULL"
    )

    def __init__(self, spec: LoadSpec, conns: list[psycopg.AsyncConnection[Any]]) -> None:
        self.spec = spec
        self.conns = conns
        self.share = int(spec.params["rows"]) // int(spec.params["processes"])

    def caller(self, worker: int) -> Call:
        conn = self.conns[worker]
        base = self.spec.index * self.share + 1
        ids = iter(range(base + worker, base + self.share, self.spec.in_flight))
        guest = f"guest-{self.spec.index}-{worker}"

        async def call() -> object:
            row = next(ids, None)
            if row is None:
                raise Exhausted
            async with conn.transaction():
                cursor = await conn.execute(self._UPDATE, (guest, row))
            if cursor.rowcount != 1:
                raise RuntimeError("row already taken")
            return None

        return call

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()


async def pg_update(spec: LoadSpec) -> PgClient:
    conns = [
        await psycopg.AsyncConnection.connect(spec.target, autocommit=True)
        for _ in range(spec.in_flight)
    ]
    return PgClient(spec, conns)


# --- SMTP -------------------------------------------------------------------------------


def _sink_main(port: int, ready: Connection) -> None:
    from aiosmtpd.smtp import SMTP

    class Counting:
        received = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Counting.received += 1
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        handler = Counting()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="bench-sink"), "127.0.0.1", port
        )
        ready.send("ready")
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def smtp_sink() -> ChildServer:
    return ChildServer("smtp-sink", _sink_main)


class SmtpClient:
    def __init__(self, spec: LoadSpec, clients: list[Any]) -> None:
        self.clients = clients
        self.sender = spec.params["sender"]
        self.recipient = spec.params["recipient"]
        self.mime: bytes = spec.params["mime"]

    def caller(self, worker: int) -> Call:
        client = self.clients[worker]

        async def call() -> object:
            errors, _ = await client.sendmail(self.sender, [self.recipient], self.mime)
            if errors:
                raise RuntimeError(f"refused: {errors}")
            return None

        return call

    async def close(self) -> None:
        for client in self.clients:
            client.close()


async def smtp_send(spec: LoadSpec) -> SmtpClient:
    import aiosmtplib

    host, _, port = spec.target.rpartition(":")
    clients = []
    for _ in range(spec.in_flight):
        client = aiosmtplib.SMTP(hostname=host, port=int(port), start_tls=False, timeout=15)
        await client.connect()
        clients.append(client)
    return SmtpClient(spec, clients)
