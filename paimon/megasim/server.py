"""The HTTP face of the emulator: MEGA's ``/cs`` API, upload and download URLs, ``/_sim``.

A stdlib ThreadingHTTPServer speaking HTTP/1.1 keep-alive: one thread per connection,
bodies streamed through a 1 MiB buffer straight into the blob file at the right offset,
downloads sent with ``socket.sendfile``. Nothing here holds a file in memory.

``POST /_sim/ciphertext {"keep": false}`` makes uploads read and check bodies without
storing them: a benchmark then measures Paimon, not this process's page cache (which on
a small VM costs more CPU than the encryption being measured). Downloads of such files
are zeros; ``reset`` keeps ciphertext again.

``POST /_sim/network`` makes it a long path to MEGA: a delay before each answer, and
upload bodies capped per TCP connection and in all (docs/megasim.md).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import parse_qs, urlsplit

from paimon.megasim.actions import DEFAULT_HOLD_SECONDS, parse_wait_token, wait_token
from paimon.megasim.attributes import MAX_ATTRIBUTE_BYTES
from paimon.megasim.cloud import Cloud
from paimon.megasim.errors import ApiError, decode_binary
from paimon.megasim.faults import (
    AnswerPauses,
    FaultError,
    FaultQueue,
    NetworkShape,
    Throttle,
    TransferCounters,
    validate_fault,
)
from paimon.megasim.proofs import HashcashGate
from paimon.megasim.uploads import CHECKSUM_BYTES, ChunkChecksum
from paimon.storage.mega.codes import EARGS, EEXPIRED, EKEY

logger = logging.getLogger("paimon.megasim")

PIECE_BYTES = 1 << 20
DROP_AFTER_BYTES = 64 * 1024  # a "drop" fault reads this much of the body, then hangs up
UPLOAD_PATH = re.compile(r"/ul/(?P<token>[\w-]+)/(?P<offset>\d+)")
DOWNLOAD_PATH = re.compile(r"/dl/(?P<token>[\w-]+)(?:/(?P<start>\d+)-(?P<end>\d+))?")
RANGE_HEADER = re.compile(r"bytes=(?P<start>\d*)-(?P<end>\d*)")
ATTRIBUTE_PATH = re.compile(r"/fa/(?P<token>[\w-]+)(?:/\d+)?")  # megajs adds /<type>
WAIT_PATH = re.compile(r"/wsc(?:/(?P<token>[\w-]+))?")
#: The chunk checksum parameters: ``d`` since the SDK's commit d074b277a (2021), whose
#: unfinished chunks are answered ``0``; ``c`` before it, answered with an empty body.
CHECKSUM_PARAMETERS = ("d", "c")


class MegaSimServer(ThreadingHTTPServer):
    """Holds the cloud and the fault controls that every request thread shares."""

    daemon_threads = True  # idle keep-alive connections must not delay shutdown

    def __init__(self, host: str, port: int, cloud: Cloud):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), MegaSimHandler)
        self.cloud = cloud
        self.faults = FaultQueue()
        self.pauses = AnswerPauses()
        self.throttle = Throttle()  # all upload bodies together
        self.network = NetworkShape()
        self.transfers = TransferCounters()
        self.connection_numbers = itertools.count()
        self.hashcash = HashcashGate()
        self.keep_ciphertext = True
        bound_port = self.server_address[1]
        self.base_url = (
            f"http://[{host}]:{bound_port}" if ":" in host else f"http://{host}:{bound_port}"
        )


class MegaSimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MegaSimServer
    timeout = 120  # seconds a connection may stall before its thread gives up
    # Replies go out as headers, then body: with Nagle's algorithm the body waited for
    # the client's delayed ACK of the headers, 40 ms on every request. MEGA's latency is
    # the network's; the emulator adds none of its own (``throttle`` models a slow link).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.connection_number = next(self.server.connection_numbers)
        self.connection_throttle = Throttle()  # this TCP connection's share of the path

    # ---- routing ---------------------------------------------------------------------

    def do_POST(self) -> None:
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._send(411, b"Content-Length required\n", "text/plain")
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)  # "?d=" is a (bad) checksum
        if url.path == "/cs":
            self._api(query, length)
        elif match := UPLOAD_PATH.fullmatch(url.path):
            self._upload(match["token"], int(match["offset"]), length, query)
        elif match := ATTRIBUTE_PATH.fullmatch(url.path):
            self._file_attribute(match["token"], length)
        elif url.path.startswith("/_sim/"):
            self._control(url.path.removeprefix("/_sim/"), self._read_json(length))
        else:
            # Downloads and the /sc channel take POST (MEGA's SDK) as well as GET.
            self._discard(length)
            self._get_or_post(url.path, query)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/_sim/state":
            self._send_json(200, self._state())
        else:
            self._get_or_post(url.path, parse_qs(url.query))

    def _get_or_post(self, path: str, query: dict[str, list[str]]) -> None:
        if match := DOWNLOAD_PATH.fullmatch(path):
            path_range = (int(match["start"]), int(match["end"])) if match["start"] else None
            self._download(match["token"], path_range)
        elif path == "/sc":
            self._poll(query)
        elif match := WAIT_PATH.fullmatch(path):
            self._hold(query, match["token"])
        else:
            self._send(404, b"not found\n", "text/plain")

    # ---- MEGA API --------------------------------------------------------------------

    def _api(self, query: dict[str, list[str]], length: int) -> None:
        sid = query.get("sid", [None])[0]
        fault = self.server.faults.take("api", has_session=sid is not None)
        if fault is not None:
            self._suffer(fault, length)
            return
        body = self.rfile.read(length)
        try:
            commands = json.loads(body)
        except ValueError:
            commands = None
        if not isinstance(commands, list):
            self._send_json(200, EARGS)
            return
        actions = [c.get("a") if isinstance(c, dict) else None for c in commands]
        gate = self.server.hashcash
        if gate.applies(actions) and not gate.admit(self.headers.get("X-Hashcash")):
            logger.info("api %s: 402, proof of work required", " ".join(map(str, actions)))
            self._send(402, b"", "application/json", {"X-Hashcash": gate.challenge()})
            return
        logger.info("api %s", " ".join(str(action) for action in actions))
        folder_link = query.get("n", [None])[0]  # a folder link's public handle
        answer = self.server.cloud.execute(sid, commands, self._base_url(), folder_link)
        if (seconds := self.server.pauses.take(actions)) is not None:
            logger.info("api %s: carried out, answer held for %g s", actions, seconds)
            self.server.pauses.hold(seconds)
        self._send_json(200, answer)

    def _upload(self, token: str, offset: int, length: int, query: dict[str, list[str]]) -> None:
        """One range, counted in ``transfers`` from its headers to its answer."""
        self.server.transfers.started(self.connection_number)
        try:
            self._upload_range(token, offset, length, query)
        finally:
            self.server.transfers.finished()

    def _upload_range(
        self, token: str, offset: int, length: int, query: dict[str, list[str]]
    ) -> None:
        cloud = self.server.cloud
        fault = self.server.faults.take("upload")
        if fault is not None:
            if fault == EEXPIRED:
                cloud.expire_upload(token)
            self._suffer(fault, length)
            return
        parameter = next((name for name in CHECKSUM_PARAMETERS if name in query), None)
        try:
            expected = decode_binary(query[parameter][0], CHECKSUM_BYTES) if parameter else None
            blob = cloud.open_upload_range(token, offset, length)
        except ApiError as error:
            self._discard(length)
            self._send_json(200, error.code)
            return
        checksum = ChunkChecksum() if expected is not None else None
        with blob:
            received_all = self._receive_into(blob, offset, length, checksum)
        if not received_all:
            self.close_connection = True  # the client went away mid-body: record nothing
            return
        if checksum is not None and checksum.digest() != expected:
            # MEGA's "integrity check failed": nothing is recorded, and the SDK sends the
            # chunk again (API_EKEY in TransferSlot::doio).
            logger.info("upload range %d+%d: checksum mismatch", offset, length)
            cloud.reject_upload_range(token, offset, length)
            self._send_json(200, EKEY)
            return
        try:
            reply = cloud.close_upload_range(token, offset, length, confirm=parameter == "d")
        except ApiError as error:
            self._send_json(200, error.code)
            return
        self._send(200, reply, "text/plain")

    def _receive_into(
        self, blob: BinaryIO, offset: int, length: int, checksum: ChunkChecksum | None
    ) -> bool:
        """Stream the body into ``blob`` at ``offset`` (and ``checksum``); False if it
        ended early."""
        throttles = (self.server.throttle, self.connection_throttle)
        self.connection_throttle.set(self.server.network.connection_bytes_per_second)
        piece_size = min(throttle.piece_size(PIECE_BYTES) for throttle in throttles)
        keep = self.server.keep_ciphertext
        buffer = memoryview(bytearray(min(length, PIECE_BYTES)))
        blob.seek(offset)
        remaining = length
        while remaining:
            piece = buffer[: min(remaining, piece_size)]
            try:
                received = self.rfile.readinto(piece)
            except OSError:
                return False
            if not received:
                return False
            self.server.transfers.received(received)
            for throttle in throttles:
                throttle.consume(received)
            if keep:
                blob.write(piece[:received])
            if checksum is not None:
                checksum.update(piece[:received])
            remaining -= received
        return True

    def _file_attribute(self, token: str, length: int) -> None:
        """An attribute URL from ``ufa``: stores the body, or reads the handles in it."""
        attributes = self.server.cloud.file_attributes
        if not attributes.accepts(token) or length > MAX_ATTRIBUTE_BYTES:
            self._discard(length)
            self._send(404, b"not found\n", "text/plain")
            return
        try:
            reply = attributes.post(token, self.rfile.read(length))
        except ApiError as error:
            self._send_json(200, error.code)
            return
        self._send(200, reply, "application/octet-stream")

    # ---- the server-to-client channel ------------------------------------------------

    def _poll(self, query: dict[str, list[str]]) -> None:
        """``/sc?sn=..&sid=..`` (megajs, go-mega): the action packets after ``sn`` with the
        new ``sn``, at once; with nothing new, a wait URL ``w`` (megajs POSTs it, go-mega
        GETs it) that answers once there is, then the client polls again."""
        cloud = self.server.cloud
        sn = query.get("sn", [None])[0]
        try:
            account = cloud.session_account(query.get("sid", [None])[0])
            packets, new_sn = cloud.actions.since(account, sn)
            if not packets:
                token = wait_token(account, new_sn)
                self._send_json(200, {"w": f"{self._base_url()}/wsc/{token}", "sn": new_sn})
                return
        except ApiError as error:
            self._send_json(200, error.code)
            return
        self._send_json(200, {"a": packets, "sn": new_sn})

    def _hold(self, query: dict[str, list[str]], token: str | None) -> None:
        """``/wsc?sn=..&sid=..`` (MEGA's SDK) and the wait URL: held until the account has
        changed since ``sn`` or ``/_sim/sc``'s hold time has passed. With ``sn`` in the
        query (the SDK): the packets and the new ``sn``, or ``0``, the keep-alive the SDK
        reads as "nothing new, ask again". The bare wait URL answers ``0`` either way:
        its callers only wait for it, then poll ``/sc``."""
        cloud = self.server.cloud
        asked = query.get("sn", [None])[0]
        try:
            if token is not None:  # the SDK appends its own ?sn= to a wait URL
                account, token_sn = parse_wait_token(token)
                sn = token_sn if asked is None else asked
            else:
                account, sn = cloud.session_account(query.get("sid", [None])[0]), asked
            packets, new_sn = cloud.actions.since(account, sn)
            if not packets:
                cloud.actions.wait(account, sn, cloud.actions.hold_seconds)
                packets, new_sn = cloud.actions.since(account, sn)
        except ApiError as error:
            self._send_json(200, error.code)
            return
        try:
            if packets and asked is not None:
                self._send_json(200, {"a": packets, "sn": new_sn})
            else:
                self._send(200, b"0", "application/json")
        except OSError:  # the client stopped waiting (megajs aborts it when it closes)
            self.close_connection = True

    def _download(self, token: str, path_range: tuple[int, int] | None) -> None:
        found = self.server.cloud.open_download(token)
        if found is None:
            self._send(404, b"not found\n", "text/plain")
            return
        blob, size = found
        with blob:
            self._send_blob(blob, size, path_range)

    def _send_blob(self, blob: BinaryIO, size: int, path_range: tuple[int, int] | None) -> None:
        header_range = self.headers.get("Range")
        partial = header_range is not None and path_range is None
        if path_range is None and header_range is None:
            start, end = 0, size - 1
        else:
            requested = path_range or self._parse_range(str(header_range), size)
            if requested is None or not requested[0] <= requested[1] < size:
                self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                return
            start, end = requested
        count = end - start + 1
        self._delay_answer()
        fault = self.server.faults.take("download")
        if fault == "http500":
            self._send(500, b"megasim: injected HTTP 500\n", "text/plain")
            return
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(count))
        self.send_header("Accept-Ranges", "bytes")
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if fault == "drop":
            count //= 2
            self.close_connection = True
        try:
            self.connection.sendfile(blob, offset=start, count=count)
        except OSError:
            self.close_connection = True

    @staticmethod
    def _parse_range(header: str, size: int) -> tuple[int, int] | None:
        """An inclusive (start, end) from a single-range header; None if malformed."""
        match = RANGE_HEADER.fullmatch(header.strip())
        if not match or not (match["start"] or match["end"]):
            return None
        if not match["start"]:  # "bytes=-N": the last N bytes
            return max(0, size - int(match["end"])), size - 1
        end = int(match["end"]) if match["end"] else size - 1
        return int(match["start"]), min(end, size - 1)

    # ---- simulator controls ----------------------------------------------------------

    def _control(self, name: str, request: object) -> None:
        if not isinstance(request, dict):
            self._send_json(400, {"error": "the body must be a JSON object"})
            return
        try:
            reply = self._run_control(name, request)
        except ValueError as error:
            self._send_json(400, {"error": str(error)})
            return
        except LookupError as error:
            self._send_json(404, {"error": str(error)})
            return
        self._send_json(200, reply)

    def _run_control(self, name: str, request: dict[str, object]) -> object:
        server = self.server
        if name == "faults":
            target, error, count = validate_fault(
                request.get("target"), request.get("error"), request.get("count", 1)
            )
            server.faults.add(target, error, count)
            logger.info("fault queued: %s %s x%d", target, error, count)
            return {"faults": server.faults.pending()}
        if name == "throttle":
            rate = _non_negative_int(request, "bytes_per_second")
            server.throttle.set(rate)
            server.network = NetworkShape(
                server.network.latency_ms, server.network.connection_bytes_per_second, rate
            )
            return {"bytes_per_second": rate}
        if name == "network":
            self._shape(
                NetworkShape(
                    *(
                        _non_negative_int(request, field, absent=0)
                        for field in (
                            "latency_ms",
                            "connection_bytes_per_second",
                            "bytes_per_second",
                        )
                    )
                )
            )
            return vars(server.network)
        if name == "ciphertext":
            keep = request.get("keep")
            if not isinstance(keep, bool):
                raise ValueError("keep must be true or false")
            server.keep_ciphertext = keep
            return {"keep": keep}
        if name == "hashcash":
            reply = server.hashcash.configure(request.get("easiness"), request.get("all", False))
            logger.info("hashcash: easiness %s, all requests %s", reply["easiness"], reply["all"])
            return reply
        if name == "sc":
            hold = request.get("hold_seconds")
            if not isinstance(hold, int | float) or isinstance(hold, bool) or not 0 < hold <= 600:
                raise ValueError("hold_seconds must be a number of seconds from 0 to 600")
            server.cloud.actions.hold_seconds = float(hold)
            return {"hold_seconds": server.cloud.actions.hold_seconds}
        if name == "pause":
            action, seconds = request.get("action"), request.get("seconds")
            if not isinstance(action, str) or not action:
                raise ValueError('action must be an API command, e.g. "p"')
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
                raise ValueError("seconds must be a positive number")
            server.pauses.add(action, float(seconds))
            return server.pauses.view()
        if name == "reset":
            flags = {flag: bool(request.get(flag)) for flag in ("nodes", "quotas", "sessions")}
            server.faults.clear()
            server.pauses.clear()
            self._shape(NetworkShape())
            server.transfers.reset()
            server.keep_ciphertext = True
            server.hashcash.configure(None, False)
            server.cloud.actions.hold_seconds = DEFAULT_HOLD_SECONDS
            server.cloud.reset(**flags)
            return {"reset": flags}
        if name == "quota":
            email = request.get("email")
            if not isinstance(email, str):
                raise ValueError("email must be a string")
            quota = _non_negative_int(request, "bytes")
            try:
                return server.cloud.set_quota(email, quota)
            except KeyError:
                raise LookupError(f"no account {email}") from None
        raise LookupError(f"no control named {name}")

    def _state(self) -> dict[str, object]:
        return {
            **self.server.cloud.snapshot(),
            "faults": self.server.faults.pending(),
            "pauses": self.server.pauses.view(),
            "throttle_bytes_per_second": self.server.throttle.bytes_per_second,
            "network": vars(self.server.network),
            "transfers": self.server.transfers.view(),
            "keep_ciphertext": self.server.keep_ciphertext,
            "hashcash": self.server.hashcash.view(),
        }

    def _shape(self, shape: NetworkShape) -> None:
        self.server.network = shape
        self.server.throttle.set(shape.bytes_per_second)
        logger.info(
            "network: %d ms per request, %d B/s per connection, %d B/s in all",
            shape.latency_ms,
            shape.connection_bytes_per_second,
            shape.bytes_per_second,
        )

    # ---- plumbing --------------------------------------------------------------------

    def _delay_answer(self) -> None:
        """The path's latency, before each answer to MEGA's API or transfer URLs (never
        to ``/_sim``, so tests configure a slow path quickly)."""
        latency_ms = self.server.network.latency_ms
        if latency_ms and not urlsplit(self.path).path.startswith("/_sim/"):
            time.sleep(latency_ms / 1000)

    def _suffer(self, fault: FaultError, length: int) -> None:
        """Answer an injected fault instead of serving the request."""
        if fault == "drop":
            self._discard(min(length // 2, DROP_AFTER_BYTES))
            self.close_connection = True
            return
        self._discard(length)
        if fault == "http500":
            self._send(500, b"megasim: injected HTTP 500\n", "text/plain")
        else:
            self._send_json(200, fault)

    def _content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if (
            value is None
            or not value.isdigit()
            or "chunked" in self.headers.get("Transfer-Encoding", "")
        ):
            return None
        return int(value)

    def _discard(self, length: int) -> None:
        """Read and forget a body so the connection can serve the next request."""
        remaining = length
        while remaining:
            piece = self.rfile.read(min(remaining, PIECE_BYTES))
            if not piece:
                self.close_connection = True
                return
            remaining -= len(piece)

    def _read_json(self, length: int) -> object:
        body = self.rfile.read(length)
        try:
            return json.loads(body) if body.strip() else {}
        except ValueError:
            return None

    def _base_url(self) -> str:
        """Links point wherever the client reached us, falling back to the bound address."""
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.base_url

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self._delay_answer()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: the query string carries the session id.
        logger.info("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, fmt: str, *args: object) -> None:
        logger.warning("%s: %s", self.address_string(), fmt % args)


def _non_negative_int(request: dict[str, object], name: str, absent: int | None = None) -> int:
    """``request[name]``, checked; ``absent`` when missing, if that is allowed."""
    value = request.get(name, absent)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value
