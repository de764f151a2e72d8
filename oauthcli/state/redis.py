"""The server state in Redis (``serve --state redis://HOST:PORT/DB``): one provider, many instances.

The same operations as the embedded ``SqliteState``, under keys prefixed
``oauthcli:``: give each provider its own Redis database. Atomicity:

- refresh rotation: ``WATCH`` the family, read, check, ``MULTI``/``EXEC``; a
  concurrent change aborts the transaction and the rotation is retried, so of
  many requests presenting one refresh token exactly one rotates it (the others
  then see reuse and revoke the family, OAuth 2.0 Security BCP 4.14);
- throttle reservations, user-wide revocation, record replacement: Lua
  scripts (one script runs alone on the server); ``take`` is ``GETDEL``.

Every key has a Redis TTL (its expiry plus a second), and the expiry is also
stored in the value and checked against the injected clock, so tests need no
waiting. Redis errors become ``StateUnavailable`` (503 in the app); after a
failure, calls fail fast for a second instead of waiting on a dead socket. The
start and end of an outage go to ``on_outage`` (``serve`` logs them; the CLI
passes nothing: its user sees the error, never a server's log line).

Every reply's type is checked and anything else fails closed (``StateUnavailable``):
something on the port that answers an integer or garbage to every command must
never make a revoked token look live or an unsaved write look saved.

``redis`` is imported here only, and this module only when ``--state redis://``
(or ``$OAUTHCLI_STATE``) is used.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from oauthcli.errors import StateUnavailable, UsageError
from oauthcli.families import check_redeemable, reused_error
from oauthcli.text import clean

PREFIX = "oauthcli:"
T = TypeVar("T")
SCHEMES = ("redis", "rediss")
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
FAIL_FAST_S = 1.0
ARGV_PASSWORD = (
    "--state must not carry a password (command lines are visible to other users): "
    "set OAUTHCLI_STATE_PASSWORD, or use --state-password-file"
)

_START_FAMILY = """
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'scope', ARGV[2], 'current_jti', ARGV[3],
           'expires_at', ARGV[4], 'revoked', '0')
local ttl = tonumber(ARGV[5])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], ARGV[6])
if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
return 1
"""

_REVOKE_FAMILY = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return 1
end
return 0
"""

_REVOKE_USER = """
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  local exp = redis.call('HGET', key, 'expires_at')
  if not exp then
    redis.call('SREM', KEYS[1], id)
  elseif redis.call('HGET', key, 'revoked') == '0' and tonumber(exp) > tonumber(ARGV[2]) then
    redis.call('HSET', key, 'revoked', '1')
    count = count + 1
  end
end
return count
"""

# KEYS: pending, failed, lock. ARGV: now, window, max, member, now - window.
# -1: go ahead (reserved), 0: busy (guesses in flight fill the allowance), else Retry-After.
_THROTTLE_BEGIN = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local lock = redis.call('GET', KEYS[3])
if lock and tonumber(lock) > now then return math.max(1, math.ceil(tonumber(lock) - now)) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return -1
"""

# KEYS: pending, failed, lock. ARGV: now, outcome, max, window, lockout, member, now - window.
_THROTTLE_END = """
redis.call('ZPOPMIN', KEYS[1])
if ARGV[2] == 'succeeded' then
  redis.call('DEL', KEYS[2])
elseif ARGV[2] == 'failed' then
  local now, window, lockout = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[6])
  redis.call('EXPIRE', KEYS[2], math.ceil(window) + 1)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
    redis.call('SET', KEYS[3], ARGV[8], 'EX', math.ceil(lockout) + 1)
    redis.call('DEL', KEYS[2])
  end
end
return 0
"""

# KEYS: pending, failed, lock. ARGV: now, now - window. Reads only (one atomic snapshot):
# -1: neither locked nor holding failures, 0: holds failures, else the seconds locked.
_THROTTLE_PEEK = """
local now = tonumber(ARGV[1])
local lock = redis.call('GET', KEYS[3])
if lock and tonumber(lock) > now then return math.max(1, math.ceil(tonumber(lock) - now)) end
if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], '+inf') > 0 then return 0 end
return -1
"""

# KEYS: record. ARGV: now, new value, ttl ms. Records are "<expiry>\\n<json>".
_REPLACE = """
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
local exp = tonumber(string.sub(old, 1, string.find(old, '\\n', 1, true) - 1))
if exp <= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: record. ARGV: now, value, ttl ms. Writes only when no live record is there.
_ADD = """
local old = redis.call('GET', KEYS[1])
if old then
  local exp = tonumber(string.sub(old, 1, string.find(old, '\\n', 1, true) - 1))
  if exp > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


def split_url(url: str) -> tuple[str, str | None, str]:
    """``(url without password, password or None, description for people)``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UsageError("--state must look like redis://HOST:PORT/DB or rediss://...") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise UsageError(
            "--state must look like redis://HOST:PORT/DB or rediss://HOST:PORT/DB "
            "(leave it out for the SQLite file beside the store)"
        )
    db = parts.path.lstrip("/") or "0"
    if not db.isdigit():
        raise UsageError("--state: the database after the port must be a number, e.g. /0")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port or 6379}"
    user = unquote(parts.username) if parts.username else ""
    safe = urlunsplit(
        (parts.scheme, (f"{parts.username}@" if user else "") + netloc, f"/{db}", parts.query, "")
    )
    password = unquote(parts.password) if parts.password is not None else None
    return safe, password, clean(urlunsplit((parts.scheme, netloc, f"/{db}", "", "")))


def url_has_password(url: str) -> bool:
    """A password in the userinfo or in the query string (redis-py reads every query
    parameter as a connection option: ``?password=``, ``?ssl_password=``)."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            return True
    except ValueError:
        return False
    return any("password" in name.lower() for name, _ in parse_qsl(parts.query, True))


class _WrongReply(Exception):
    """A reply of a type or shape Redis does not give to the command sent."""


def _int(reply: Any) -> int:
    if isinstance(reply, int) and not isinstance(reply, bool):
        return reply
    raise _WrongReply(f"an integer was expected, not {type(reply).__name__}")


def _ok(reply: Any) -> None:
    if reply is not True:
        raise _WrongReply(f"OK was expected, not {type(reply).__name__}")


def _bulk(reply: Any) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    raise _WrongReply(f"a string or nil was expected, not {type(reply).__name__}")


def _hgetall(client: Any, key: str) -> dict[str, str]:
    """HGETALL, checked: redis-py's own conversion chokes (TypeError) on a non-array."""
    try:
        reply = client.hgetall(key)
    except TypeError:
        raise _WrongReply("a hash was expected") from None
    return _hash(reply)


def _hash(reply: Any) -> dict[str, str]:
    if not isinstance(reply, dict) or not all(
        isinstance(k, bytes) and isinstance(v, bytes) for k, v in reply.items()
    ):
        raise _WrongReply(f"a hash was expected, not {type(reply).__name__}")
    return {k.decode(): v.decode() for k, v in reply.items()}


class RedisState:
    remote = True  # every call is a network round trip: callers keep it off the event loop

    def __init__(
        self,
        client: Any,
        description: str,
        clock: Callable[[], float] = time.time,
        on_outage: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.client = client
        self.description = description
        self.clock = clock
        # (True, why) when calls start failing, (False, message) when they work again.
        self.on_outage = on_outage
        self._state_lock = threading.Lock()
        self._down_until = 0.0
        self._down_message: str | None = None
        self._scripts = {
            name: client.register_script(src)
            for name, src in {
                "start": _START_FAMILY,
                "revoke_family": _REVOKE_FAMILY,
                "revoke_user": _REVOKE_USER,
                "begin": _THROTTLE_BEGIN,
                "end": _THROTTLE_END,
                "peek": _THROTTLE_PEEK,
                "replace": _REPLACE,
                "add": _ADD,
            }.items()
        }

    @classmethod
    def from_url(
        cls,
        url: str,
        password: str | None = None,
        clock: Callable[[], float] = time.time,
        on_outage: Callable[[bool, str], None] | None = None,
    ) -> RedisState:
        safe, url_password, description = split_url(url)
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise UsageError(
                "--state redis:// needs the redis package: pip install 'oauthcli[redis]'"
            ) from None

        client = redis.Redis.from_url(
            safe,
            password=password if password is not None else url_password,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            protocol=2,  # RESP2: the reply types checked below (no HELLO to negotiate)
            # One immediate retry on a fresh connection: a pooled connection is dead
            # after Redis restarts, and that must not cost a request a 503.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        return cls(client, description, clock, on_outage)

    def describe(self) -> str:
        return f"Redis state {self.description}"

    def has_data(self) -> bool:
        return True

    # ----------------------------------------------------------- errors

    def _reason(self, exc: BaseException) -> str:
        import redis

        if isinstance(exc, redis.RedisError):
            why = clean(str(exc)) or type(exc).__name__
            return f"cannot reach the state store {self.description}: {why}"
        why = clean(str(exc)) if isinstance(exc, _WrongReply) else "a reply that is not RESP"
        return f"the state store {self.description} does not answer as Redis does ({why})"

    def _failures(self) -> tuple[type[BaseException], ...]:
        import redis

        # ValueError: redis-py's parser or our decoding meeting bytes that are not Redis's.
        return (redis.RedisError, _WrongReply, ValueError)

    @contextlib.contextmanager
    def _calls(self) -> Iterator[None]:
        with self._state_lock:
            message = self._down_message if time.monotonic() < self._down_until else None
        if message is not None:
            raise StateUnavailable(message)
        try:
            yield
        except self._failures() as exc:
            message = self._reason(exc)
            with self._state_lock:
                first = self._down_message is None
                self._down_message = message
                self._down_until = time.monotonic() + FAIL_FAST_S
            if first and self.on_outage is not None:
                self.on_outage(True, message)
            raise StateUnavailable(message) from None
        if self._down_message is not None:
            with self._state_lock:
                was_down, self._down_message = self._down_message is not None, None
            if was_down and self.on_outage is not None:
                self.on_outage(False, f"the state store {self.description} is reachable again")

    def ping(self) -> None:
        """At start-up: ``StateUnavailable`` with one clear message, nothing reported."""
        try:
            _ok(self.client.ping())
        except self._failures() as exc:
            raise StateUnavailable(self._reason(exc)) from None

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------- refresh families

    @staticmethod
    def _family_key(family_id: str) -> str:
        return f"{PREFIX}fam:{family_id}"

    @staticmethod
    def _decode_family(get: dict[str, str]) -> dict[str, Any] | None:
        if not get:
            return None
        try:
            return {
                "sub": get["sub"],
                "scope": get.get("scope", ""),
                "current_jti": get["current_jti"],
                "expires_at": int(float(get["expires_at"])),
                "revoked": get["revoked"] == "1",
            }
        except KeyError as exc:
            raise _WrongReply(f"a family without {exc}") from None

    def start_family(self, sub: str, jti: str, expires_at: float, scope: str, now: float) -> str:
        family_id = secrets.token_urlsafe(16)
        ttl = max(1, math.ceil(expires_at - now)) + 1
        with self._calls():
            _int(
                self._scripts["start"](
                    keys=[self._family_key(family_id), f"{PREFIX}user:{sub}"],
                    args=[sub, scope, jti, repr(float(expires_at)), ttl, family_id],
                )
            )
        return family_id

    def rotate_family(
        self,
        family_id: str,
        presented_jti: str,
        new_jti: str,
        expires_at: float,
        now: float,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        import redis

        key = self._family_key(family_id)
        with self._calls():
            while True:
                with self.client.pipeline() as pipe:
                    try:
                        pipe.watch(key)
                        family = self._decode_family(_hgetall(pipe, key))
                        check_redeemable(family, now)
                        assert family is not None
                        if not secrets.compare_digest(family["current_jti"], presented_jti):
                            pipe.multi()
                            pipe.hset(key, "revoked", "1")
                            _int(_executed(pipe.execute(), 1)[0])
                            raise reused_error()
                        if check is not None:
                            check(dict(family))
                        pipe.multi()
                        pipe.hset(
                            key,
                            mapping={"current_jti": new_jti, "expires_at": repr(float(expires_at))},
                        )
                        pipe.expire(key, max(1, math.ceil(expires_at - now)) + 1)
                        written, expiring = _executed(pipe.execute(), 2)
                        _int(written)
                        if expiring is not True and expiring != 1:
                            raise _WrongReply("EXPIRE answered neither 1 nor true")
                    except redis.WatchError:
                        continue  # changed under us: read it again
                family.update(current_jti=new_jti, expires_at=int(expires_at))
                return family

    def get_family(self, family_id: str) -> dict[str, Any] | None:
        with self._calls():
            return self._decode_family(_hgetall(self.client, self._family_key(family_id)))

    def revoke_family(self, family_id: str) -> bool:
        with self._calls():
            return bool(_int(self._scripts["revoke_family"](keys=[self._family_key(family_id)])))

    def revoke_user(self, sub: str, now: float) -> int:
        with self._calls():
            return _int(
                self._scripts["revoke_user"](
                    keys=[f"{PREFIX}user:{sub}"], args=[f"{PREFIX}fam:", repr(float(now))]
                )
            )

    # ---------------------------------------------------- revoked access tokens

    def revoke_access(self, jti: str, expires_at: float, now: float) -> None:
        if expires_at <= now:
            return
        with self._calls():
            _ok(
                self.client.set(
                    f"{PREFIX}rev:{jti}",
                    repr(float(expires_at)),
                    ex=math.ceil(expires_at - now) + 1,
                )
            )

    def is_access_revoked(self, jti: str, now: float) -> bool:
        with self._calls():
            found = _bulk(self.client.get(f"{PREFIX}rev:{jti}"))
            return found is not None and float(found) > now

    # ------------------------------------------------------------- throttling

    @staticmethod
    def _throttle_keys(key: str) -> list[str]:
        base = f"{PREFIX}thr:{key}"
        return [base + ":pending", base + ":failed", base + ":lock"]

    def throttle_begin(self, key: str, now: float, max_attempts: int, window: float) -> int | None:
        with self._calls():
            wait = _int(
                self._scripts["begin"](
                    keys=self._throttle_keys(key),
                    args=[
                        repr(now),
                        repr(float(window)),
                        max_attempts,
                        secrets.token_hex(8),
                        repr(now - window),
                    ],
                )
            )
        return None if wait < 0 else wait

    def throttle_end(
        self,
        key: str,
        now: float,
        outcome: str,
        max_attempts: int,
        window: float,
        lockout: float,
    ) -> None:
        with self._calls():
            _int(
                self._scripts["end"](
                    keys=self._throttle_keys(key),
                    args=[
                        repr(now),
                        outcome,
                        max_attempts,
                        repr(float(window)),
                        repr(float(lockout)),
                        secrets.token_hex(8),
                        repr(now - window),
                        repr(now + lockout),
                    ],
                )
            )

    def throttle_peek(self, key: str, now: float, window: float) -> int | None:
        with self._calls():
            wait = _int(
                self._scripts["peek"](
                    keys=self._throttle_keys(key), args=[repr(now), repr(now - window)]
                )
            )
        return None if wait < 0 else wait

    # ---------------------------------------------------------------- records

    @staticmethod
    def _record_key(kind: str, key: str) -> str:
        return f"{PREFIX}rec:{kind}:{key}"

    @staticmethod
    def _encode(value: dict[str, Any], expires_at: float) -> str:
        return f"{expires_at!r}\n{json.dumps(value)}"

    def _decode(self, raw: Any) -> dict[str, Any] | None:
        raw = _bulk(raw)
        if raw is None:
            return None
        expiry, _, body = raw.decode().partition("\n")
        if float(expiry) <= self.clock():
            return None
        value = json.loads(body)
        if not isinstance(value, dict):
            raise _WrongReply("a record that is not a JSON object")
        return value

    def put(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> None:
        now = self.clock()
        with self._calls():
            _ok(
                self.client.set(
                    self._record_key(kind, key),
                    self._encode(value, now + ttl),
                    px=max(1, math.ceil(ttl * 1000)) + 1000,
                )
            )

    def add(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        now = self.clock()
        with self._calls():
            return bool(
                _int(
                    self._scripts["add"](
                        keys=[self._record_key(kind, key)],
                        args=[
                            repr(float(now)),
                            self._encode(value, now + ttl),
                            max(1, math.ceil(ttl * 1000)) + 1000,
                        ],
                    )
                )
            )

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._calls():
            return self._decode(self.client.get(self._record_key(kind, key)))

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._calls():
            return self._decode(self.client.getdel(self._record_key(kind, key)))

    def replace(self, kind: str, key: str, value: dict[str, Any], ttl: float) -> bool:
        now = self.clock()
        with self._calls():
            return bool(
                _int(
                    self._scripts["replace"](
                        keys=[self._record_key(kind, key)],
                        args=[
                            repr(float(now)),
                            self._encode(value, now + ttl),
                            max(1, math.ceil(ttl * 1000)) + 1000,
                        ],
                    )
                )
            )

    def delete(self, kind: str, key: str) -> None:
        with self._calls():
            _int(self.client.delete(self._record_key(kind, key)))

    def items(self, kind: str) -> dict[str, dict[str, Any]]:
        prefix = self._record_key(kind, "")
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
        found: dict[str, dict[str, Any]] = {}
        cursor = 0
        with self._calls():
            while True:
                try:  # redis-py unpacks SCAN's reply itself: a wrong one is a TypeError there
                    reply = self.client.scan(cursor=cursor, match=pattern, count=500)
                except TypeError:
                    raise _WrongReply("a SCAN reply that is not a cursor and keys") from None
                if not (
                    isinstance(reply, list | tuple)
                    and len(reply) == 2
                    and isinstance(reply[0], int)
                    and isinstance(reply[1], list)
                    and all(isinstance(name, bytes) for name in reply[1])
                ):
                    raise _WrongReply("a SCAN reply that is not a cursor and keys")
                cursor, names = reply
                for name in names:
                    value = self._decode(self.client.get(name))
                    if value is not None:
                        found[name.decode()[len(prefix) :]] = value
                if cursor == 0:
                    return dict(sorted(found.items()))

    # ---------------------------------------------------------------- control

    _CONTROL = f"{PREFIX}control"
    _LOG = f"{PREFIX}control:log"

    @staticmethod
    def _document(raw: Any) -> dict[str, Any]:
        raw = _bulk(raw)
        if raw is None:
            return {}
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise _WrongReply("a control document that is not a JSON object")
        return value

    def control_get(self) -> dict[str, Any]:
        with self._calls():
            return self._document(self.client.get(self._CONTROL))

    def control_update(self, change: Callable[[dict[str, Any]], T]) -> T:
        import redis

        refused: BaseException | None = None
        with self._calls():
            while True:
                with self.client.pipeline() as pipe:
                    try:
                        pipe.watch(self._CONTROL)
                        document = self._document(pipe.get(self._CONTROL))
                        try:
                            result = change(document)
                        except Exception as exc:  # the caller's refusal, not Redis failing
                            refused = exc
                            break
                        pipe.multi()
                        pipe.set(self._CONTROL, json.dumps(document))
                        _ok(_executed(pipe.execute(), 1)[0])
                    except redis.WatchError:
                        continue  # another worker wrote first: read it again
                return result
        raise refused

    def log_append(self, entry: dict[str, Any], limit: int) -> None:
        with self._calls(), self.client.pipeline() as pipe:
            pipe.rpush(self._LOG, json.dumps(entry))
            pipe.ltrim(self._LOG, -limit, -1)
            length, trimmed = _executed(pipe.execute(), 2)
            _int(length)
            _ok(trimmed)

    def log_entries(self) -> list[dict[str, Any]]:
        with self._calls():
            reply = self.client.lrange(self._LOG, 0, -1)
            if not isinstance(reply, list):
                raise _WrongReply(f"a list was expected, not {type(reply).__name__}")
            entries = [json.loads(_bulk(item) or b"null") for item in reply]
        if not all(isinstance(e, dict) for e in entries):
            raise _WrongReply("a request log entry that is not a JSON object")
        return entries

    def log_clear(self) -> None:
        with self._calls():
            _int(self.client.delete(self._LOG))


def _executed(replies: Any, count: int) -> list[Any]:
    """The replies of a MULTI/EXEC of ``count`` commands."""
    if not isinstance(replies, list) or len(replies) != count:
        raise _WrongReply("EXEC did not answer one reply per command")
    return replies
