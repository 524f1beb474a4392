"""Sign-in throttling: failed attempts counted per account and per address, in fixed windows.

Only failures count, so an office behind one address signing in all morning is never held up; a success
clears its account's count. Once an account reaches its limit, attempts on it are refused without checking
the password until the window ends (its owner is emailed once); once an address reaches its limit, so are
attempts from it. Counters live in Redis when RATELIMIT_STORAGE_URI (or REDIS_URL) names one, so every web
process shares them; if Redis cannot be reached, this process counts in memory until it can."""
from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from flask import Flask, current_app

log = logging.getLogger(__name__)

PREFIX = "portal:signin-failures:"


@dataclass(frozen=True)
class Refusal:
    reason: str  # "account" or "address"
    retry_after: int  # seconds

    @property
    def minutes(self) -> int:
        return max(1, -(-self.retry_after // 60))


class MemoryCounters:
    """Fixed-window counters in this process; the fallback, and the store when no Redis is configured."""

    def __init__(self):
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._counts.get(key)
        if entry is not None and entry[1] <= now:
            del self._counts[key]
            return None
        return entry

    def add(self, key: str, window: int) -> int:
        now = time.time()
        with self._lock:
            count, ends = self._live(key, now) or (0, now + window)
            self._counts[key] = (count + 1, ends)
            return count + 1

    def get(self, key: str) -> tuple[int, int]:
        """(count, seconds until the window ends)."""
        now = time.time()
        with self._lock:
            entry = self._live(key, now)
        return (entry[0], max(math.ceil(entry[1] - now), 1)) if entry else (0, 0)

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def clear_all(self) -> None:
        with self._lock:
            self._counts.clear()


class RedisCounters:
    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)

    def add(self, key: str, window: int) -> int:
        pipe = self.client.pipeline()  # MULTI/EXEC: the window starts with the first failure
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])

    def get(self, key: str) -> tuple[int, int]:
        pipe = self.client.pipeline()
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = pipe.execute()
        return (int(count), max(int(ttl), 1)) if count is not None else (0, 0)

    def clear(self, key: str) -> None:
        self.client.delete(key)


class Counters:
    """Redis if configured, else memory; any Redis error falls back to memory for that call (never a 500)."""

    def __init__(self, storage_uri: str):
        self.memory = MemoryCounters()
        self.redis = RedisCounters(storage_uri) if storage_uri.startswith(("redis://", "rediss://", "unix://")) else None

    def _call(self, name: str, *args):
        if self.redis is not None:
            try:
                return getattr(self.redis, name)(*args)
            except redis.RedisError as exc:
                log.warning("sign-in throttle: Redis unavailable (%s); counting in memory", exc)
        return getattr(self.memory, name)(*args)

    def add(self, key: str, window: int) -> int:
        return self._call("add", key, window)

    def get(self, key: str) -> tuple[int, int]:
        return self._call("get", key)

    def clear(self, key: str) -> None:
        self._call("clear", key)


def init_app(app: Flask) -> None:
    app.extensions["login_throttle"] = Counters(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")


def _counters() -> Counters:
    return current_app.extensions["login_throttle"]


def _account_key(email: str) -> str:
    # Hashed: Redis keys then hold no email addresses.
    return PREFIX + "account:" + hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]


def _address_key(address: str) -> str:
    return PREFIX + "address:" + (address or "unknown")


def refusal(email: str, address: str) -> Refusal | None:
    """Whether a sign-in attempt must be refused before its password is even checked."""
    config = current_app.config
    for reason, key, limit in (("account", _account_key(email), config["LOGIN_ACCOUNT_FAILURE_LIMIT"]),
                               ("address", _address_key(address), config["LOGIN_ADDRESS_FAILURE_LIMIT"])):
        count, retry_after = _counters().get(key)
        if count >= limit:
            return Refusal(reason, retry_after)
    return None


def record_failure(email: str, address: str) -> bool:
    """Count a failed attempt. True when this failure has just reached the account's limit (tell its owner)."""
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    _counters().add(_address_key(address), window)
    return _counters().add(_account_key(email), window) == current_app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"]


def record_success(email: str) -> None:
    _counters().clear(_account_key(email))
