"""The RESP server over real loopback sockets, with redis-py (sync and asyncio) and redis-cli."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from memories.local_processes import free_port
from tests.sidecar.conftest import RunningSidecar, sidecar_document


@pytest.fixture
def client(sidecar: RunningSidecar) -> redis.Redis:
    return redis.Redis(port=sidecar.resp_port, socket_timeout=5)


def raw_exchange(port: int, payload: bytes, wait: float = 0.25, first_wait: float = 10.0) -> bytes:
    """Send raw bytes; return what the server answered until it closed, or was silent for ``wait`` seconds after
    its first bytes (the first bytes may take up to ``first_wait`` seconds, by default 10 s, so that a loaded
    machine does not read an empty answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        if payload:
            connection.sendall(payload)
        connection.settimeout(first_wait)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
                connection.settimeout(wait)
        except TimeoutError:
            pass
        return received


def test_set_then_get_returns_the_value(client: redis.Redis) -> None:
    assert client.set("key", b"value") is True
    assert client.get("key") == b"value"


def test_get_of_absent_key_is_none(client: redis.Redis) -> None:
    assert client.get("absent") is None


def test_set_nx_only_writes_absent_keys(client: redis.Redis) -> None:
    assert client.set("key", "first", nx=True) is True
    assert client.set("key", "second", nx=True) is None
    assert client.get("key") == b"first"


def test_set_xx_only_writes_present_keys(client: redis.Redis) -> None:
    assert client.set("key", "value", xx=True) is None
    client.set("key", "old")
    assert client.set("key", "new", xx=True) is True
    assert client.get("key") == b"new"


def test_set_get_returns_the_previous_value(client: redis.Redis) -> None:
    client.set("key", "old")
    assert client.set("key", "new", get=True) == b"old"


def test_set_ex_and_px_set_a_ttl(client: redis.Redis) -> None:
    client.set("seconds", "v", ex=100)
    client.set("millis", "v", px=50_000)
    assert 98 <= client.ttl("seconds") <= 100
    assert 48_000 <= client.pttl("millis") <= 50_000


def test_set_keepttl_keeps_the_remaining_ttl(client: redis.Redis) -> None:
    client.set("key", "v", ex=100)
    client.set("key", "w", keepttl=True)
    assert client.ttl("key") >= 98


def test_key_expires_after_px(client: redis.Redis) -> None:
    client.set("key", "v", px=100)
    time.sleep(0.25)
    assert client.get("key") is None


def test_ttl_reports_minus_one_without_expiry_and_minus_two_when_absent(client: redis.Redis) -> None:
    client.set("key", "v")
    assert client.ttl("key") == -1
    assert client.ttl("absent") == -2
    assert client.pttl("absent") == -2


def test_expire_and_pexpire_set_ttls(client: redis.Redis) -> None:
    client.set("a", "v")
    client.set("b", "v")
    assert client.expire("a", 100) is True
    assert client.pexpire("b", 100_000) is True
    assert client.expire("absent", 10) is False
    assert 98 <= client.ttl("a") <= 100
    assert 98 <= client.ttl("b") <= 100


def test_expire_with_non_positive_ttl_deletes(client: redis.Redis) -> None:
    client.set("key", "v")
    assert client.expire("key", 0) is True
    assert client.exists("key") == 0


def test_delete_and_exists_count_keys(client: redis.Redis) -> None:
    client.mset({"a": "1", "b": "2"})
    assert client.exists("a", "b", "c") == 2
    assert client.delete("a", "b", "c") == 2
    assert client.exists("a", "b") == 0


def test_mset_then_mget_keeps_order_and_nulls(client: redis.Redis) -> None:
    assert client.mset({"a": "1", "b": "2"}) is True
    assert client.mget("a", "missing", "b") == [b"1", None, b"2"]


def test_incr_decr_family_counts(client: redis.Redis) -> None:
    assert client.incr("counter") == 1
    assert client.incrby("counter", 10) == 11
    assert client.decr("counter") == 10
    assert client.decrby("counter", 4) == 6
    assert client.get("counter") == b"6"


def test_incr_of_non_integer_is_an_error(client: redis.Redis) -> None:
    client.set("text", "abc")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        client.incr("text")


def test_incr_overflow_is_an_error(client: redis.Redis) -> None:
    client.set("big", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="overflow"):
        client.incr("big")


def test_ping_echo_select_and_client_setname(client: redis.Redis) -> None:
    assert client.ping() is True
    assert client.echo("hello") == b"hello"
    assert client.execute_command("SELECT", 0) is True
    assert client.client_setname("worker") is True
    assert client.client_getname() in ("worker", b"worker")  # redis-py decodes it under RESP3


def test_select_of_other_database_is_an_error(client: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError, match="out of range"):
        client.execute_command("SELECT", 1)


def test_dbsize_and_flushdb(client: redis.Redis) -> None:
    client.mset({"a": "1", "b": "2", "c": "3"})
    assert client.dbsize() == 3
    assert client.flushdb() is True
    assert client.dbsize() == 0


def test_info_reports_cache_tiers_and_keyspace(client: redis.Redis) -> None:
    client.set("a", "1")
    client.get("a")
    info = client.info()
    assert info["redis_version"] == "7.0.0"
    assert info["l1_hits"] >= 1
    assert info["db0"]["keys"] == 1


def test_info_section_limits_output(client: redis.Redis) -> None:
    info = client.info("clients")
    assert set(info) == {"connected_clients"}


def test_unknown_command_is_an_error_and_connection_survives(client: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCH'"):
        client.execute_command("NOSUCH", "x")
    assert client.ping() is True


def test_wrong_arity_is_an_error(client: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get'"):
        client.execute_command("GET")


def test_pipeline_replies_keep_order(client: redis.Redis) -> None:
    pipeline = client.pipeline(transaction=False)
    for index in range(200):
        pipeline.set(f"k{index}", index)
        pipeline.get(f"k{index}")
        pipeline.incr("counter")
    replies = pipeline.execute()
    assert replies[1::3] == [str(index).encode() for index in range(200)]
    assert replies[2::3] == list(range(1, 201))


def test_concurrent_long_pipelines_of_large_values_round_trip(sidecar: RunningSidecar) -> None:
    # Each pipeline (about 1.2 MB, more than the 1 MiB backlog bound) is answered over many turns, interleaved.
    def run_client(client_index: int) -> bool:
        client = redis.Redis(port=sidecar.resp_port, socket_timeout=30)
        values = [random.Random(client_index * 1000 + index).randbytes(4096) for index in range(300)]
        pipeline = client.pipeline(transaction=False)
        for index, value in enumerate(values):
            pipeline.set(f"c{client_index}:{index}", value)
        for index in range(len(values)):
            pipeline.get(f"c{client_index}:{index}")
        replies = pipeline.execute()
        client.close()
        return replies == [True] * len(values) + values

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(run_client, range(4))) == [True] * 4


def test_value_larger_than_limit_is_refused(start_sidecar: Callable[..., RunningSidecar]) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"maxValueSize": 1024}}}))
    client = redis.Redis(port=sidecar.resp_port)
    with pytest.raises(redis.ResponseError, match="larger than the limit of 1024 bytes"):
        client.set("key", b"x" * 1000 + b"y" * 24 + b"z")  # 1025 bytes: a RESP protocol error at the frame
    client = redis.Redis(port=sidecar.resp_port)
    assert client.set("key", b"x" * 1024) is True


def test_key_longer_than_limit_is_refused(start_sidecar: Callable[..., RunningSidecar]) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"maxKeyLength": 8}}}))
    client = redis.Redis(port=sidecar.resp_port)
    with pytest.raises(redis.ResponseError, match="key is longer than the limit of 8 bytes"):
        client.set("k" * 9, "v")


def test_connections_beyond_the_limit_are_refused(start_sidecar: Callable[..., RunningSidecar]) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"maxConnections": 2}}}))
    first, second = redis.Redis(port=sidecar.resp_port), redis.Redis(port=sidecar.resp_port)
    assert first.ping() and second.ping()
    reply = raw_exchange(sidecar.resp_port, b"")  # sending nothing: unread data would turn the close into a reset
    assert reply == b"-ERR max number of clients reached\r\n"


def test_incomplete_request_times_out(start_sidecar: Callable[..., RunningSidecar]) -> None:
    sidecar = start_sidecar(sidecar_document({"server": {"limits": {"readTimeout": "200ms"}}}))
    reply = raw_exchange(sidecar.resp_port, b"*2\r\n$3\r\nGET\r\n$10\r\nabc", wait=2.0)
    assert reply == b"-ERR read timeout: incomplete request\r\n"


def test_malformed_frame_gets_error_and_close_but_server_lives(sidecar: RunningSidecar) -> None:
    reply = raw_exchange(sidecar.resp_port, b"*1\r\n$x\r\nPING\r\n")
    assert reply == b"-ERR Protocol error: invalid bulk length\r\n"
    assert redis.Redis(port=sidecar.resp_port).ping() is True


@pytest.mark.parametrize(
    ("request_bytes", "expected_reply"),
    [
        pytest.param(
            b"PING\r\n*1\r\n?oops\r\n",
            b"+PONG\r\n-ERR Protocol error: expected '$', got '?'\r\n",
            id="commands-before-a-malformed-frame-are-answered",
        ),
        pytest.param(
            b'SET a "b\r\nPING\r\n',
            b"-ERR Protocol error: unbalanced quotes in request\r\n+PONG\r\n",
            id="unbalanced-inline-quotes-keep-the-connection",
        ),
        pytest.param(
            b'SET greeting "hello world"\r\nGET greeting\r\n',
            b"+OK\r\n$11\r\nhello world\r\n",
            id="inline-commands-work",
        ),
        pytest.param(b"QUIT\r\nPING\r\n", b"+OK\r\n", id="quit-closes-after-ok"),
    ],
)
def test_raw_exchange(sidecar: RunningSidecar, request_bytes: bytes, expected_reply: bytes) -> None:
    assert raw_exchange(sidecar.resp_port, request_bytes) == expected_reply


def test_hello_3_switches_nulls_to_resp3(sidecar: RunningSidecar) -> None:
    reply = raw_exchange(sidecar.resp_port, b"HELLO 3\r\nGET absent\r\n")
    assert reply.startswith(b"%7\r\n$6\r\nserver\r\n")
    assert reply.endswith(b"*0\r\n_\r\n")


def test_hello_with_unknown_protocol_is_refused(sidecar: RunningSidecar) -> None:
    assert raw_exchange(sidecar.resp_port, b"HELLO 4\r\n").startswith(b"-NOPROTO")


def test_resp2_client_gets_null_bulks(sidecar: RunningSidecar) -> None:
    client = redis.Redis(port=sidecar.resp_port, protocol=2)
    client.set("a", "1")
    assert client.mget("a", "absent") == [b"1", None]
    assert client.get("absent") is None


def test_auth_is_required_when_a_token_is_configured(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    sidecar = start_sidecar(sidecar_document({"server": {"authTokenFile": str(token_file)}}))
    no_retry = Retry(NoBackoff(), 0)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=sidecar.resp_port, retry=no_retry).get("key")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=sidecar.resp_port, password="wrong", retry=no_retry).ping()
    assert redis.Redis(port=sidecar.resp_port, password="s3cret").set("key", "v") is True


async def test_asyncio_client_round_trip(sidecar: RunningSidecar) -> None:
    client = redis.asyncio.Redis(port=sidecar.resp_port)
    try:
        await client.set("async-key", b"value", ex=60)
        assert await client.get("async-key") == b"value"
        pipeline = client.pipeline(transaction=False)
        for _ in range(50):
            pipeline.incr("async-counter")
        assert (await pipeline.execute())[-1] == 50
    finally:
        await client.aclose()


def test_redis_cli_commands(sidecar: RunningSidecar) -> None:
    def cli(*arguments: str) -> str:
        result = subprocess.run(
            ["redis-cli", "-p", str(sidecar.resp_port), *arguments], capture_output=True, text=True, timeout=10
        )
        return result.stdout.strip()

    assert cli("PING") == "PONG"
    assert cli("SET", "name", "memories") == "OK"
    assert cli("GET", "name") == "memories"
    assert cli("INCRBY", "n", "7") == "7"
    assert cli("NOSUCH").startswith("ERR unknown command")
    assert "l1_hits" in cli("INFO")


def test_redis_cli_pipe_mode_counts_replies(sidecar: RunningSidecar) -> None:
    commands = "".join(f"SET key{index} {index}\r\n" for index in range(1000)).encode()
    result = subprocess.run(
        ["redis-cli", "-p", str(sidecar.resp_port), "--pipe"], input=commands, capture_output=True, timeout=20
    )
    assert b"errors: 0, replies: 1000" in result.stdout
    assert redis.Redis(port=sidecar.resp_port).get("key999") == b"999"


def test_unix_socket_serves_the_same_cache(start_sidecar: Callable[..., RunningSidecar], tmp_path: Path) -> None:
    socket_path = tmp_path / "resp.sock"
    sidecar = start_sidecar(
        sidecar_document({"server": {"resp": {"port": free_port(), "unixSocket": str(socket_path)}}})
    )
    assert redis.Redis(unix_socket_path=str(socket_path)).set("shared", "yes")
    assert redis.Redis(port=sidecar.resp_port).get("shared") == b"yes"


def test_random_garbage_on_many_connections_never_kills_the_server(sidecar: RunningSidecar) -> None:
    generator = random.Random(4)
    for _ in range(30):
        garbage = bytes(generator.getrandbits(8) for _ in range(generator.randint(1, 300)))
        # Garbage that reads as the start of a request gets no answer until the read timeout: only the server's
        # survival is checked, so do not wait 10 s for an answer to each.
        raw_exchange(sidecar.resp_port, garbage, wait=0.02, first_wait=0.2)
    assert redis.Redis(port=sidecar.resp_port).ping() is True


def test_large_values_arriving_in_many_reads(sidecar: RunningSidecar) -> None:
    client = redis.Redis(port=sidecar.resp_port)
    value = random.Random(5).randbytes(3 * 1024 * 1024)
    assert client.set("big", value) is True
    assert client.get("big") == value


def test_pipelined_writes_and_reads_spill_to_l2_in_order(
    start_sidecar: Callable[..., RunningSidecar], tmp_path: Path
) -> None:
    # With L2 configured SET cannot complete synchronously: every write takes the task path.
    sidecar = start_sidecar(sidecar_document({"cache": {"l1Size": "64KB", "l2Size": "16MB", "l2Path": str(tmp_path)}}))
    client = redis.Redis(port=sidecar.resp_port, socket_timeout=10)
    pipeline = client.pipeline(transaction=False)
    for index in range(200):
        pipeline.set(f"key-{index}", bytes([index % 256]) * 1000)
    assert all(pipeline.execute())
    pipeline = client.pipeline(transaction=False)
    for index in range(200):
        pipeline.get(f"key-{index}")
    pipeline.get("absent")
    replies = pipeline.execute()
    assert replies[:200] == [bytes([index % 256]) * 1000 for index in range(200)]
    assert replies[200] is None
