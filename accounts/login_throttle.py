"""Sign-in limits in Redis: a user name is locked, an address is slowed down.

- **Per user name**: every attempt is counted *before* its password is checked, in one Lua call
  that also refuses it when the count has reached LOGIN_FAILURES_PER_USER; so however many
  attempts arrive at once, at most that many passwords are checked. A success clears the count.
  The count lives LOGIN_LOCKOUT_SECONDS from its first attempt.
- **Per address**: all clients behind one proxy or NAT share an address, so its limit must not
  lock anyone out. After LOGIN_FAILURES_PER_IP failures the address is slowed instead: one
  attempt may go through, then the next waits 1, 2, 4 … seconds (at most
  LOGIN_SLOWDOWN_MAX_SECONDS); one arriving earlier is refused with the time left, unchecked.
  A browser that has signed in as that user name before (`accounts.known_browser`) skips the
  slowdown, so guessing from a shared address cannot keep its regular users out. The count's
  expiry is renewed by each attempt, so steady guessing stays slowed; a success takes back its
  own attempt only, so one good account cannot unlock guessing at others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

PREFIX = "recondesk:login-failures"

ALLOWED, USER_LOCKED, ADDRESS_SLOWED = 0, 1, 2

# KEYS: user count, address count, address wait. ARGV: user limit, address limit, window (s),
# longest wait (ms), "1" when the browser is known for this user name.
_BEGIN = """
local attempts = tonumber(redis.call('GET', KEYS[1]) or '0')
if attempts >= tonumber(ARGV[1]) then
  return {1, redis.call('PTTL', KEYS[1])}
end
local failures = tonumber(redis.call('GET', KEYS[2]) or '0')
local over = failures - tonumber(ARGV[2])
if ARGV[5] ~= '1' and over >= 0 then
  local wait = math.max(1, math.floor(math.min(1000 * 2 ^ math.min(over, 40), tonumber(ARGV[4]))))
  if not redis.call('SET', KEYS[3], '1', 'PX', wait, 'NX') then
    return {2, redis.call('PTTL', KEYS[3])}
  end
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {0, 0}
"""

# KEYS: user count, address count. A success was counted as an attempt: the user name's count is
# cleared, the address's gives back this one attempt (if the count has not expired meanwhile).
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 0
"""


@dataclass(frozen=True)
class Verdict:
    outcome: int  # ALLOWED, USER_LOCKED or ADDRESS_SLOWED
    wait_seconds: int = 0

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOWED


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)


@cache
def _scripts(url: str):
    client = _client(url)
    return client.register_script(_BEGIN), client.register_script(_SUCCEEDED)


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"{PREFIX}:{kind}:{digest}"


def _keys(username: str, ip: str) -> tuple[str, str, str]:
    address = ip or "unknown"
    return _key("user", username), _key("ip", address), _key("ip-wait", address)


def begin_attempt(username: str, ip: str, *, known_browser: bool = False) -> Verdict:
    """Count this attempt and say whether its password may be checked."""
    begin, _succeeded = _scripts(settings.REDIS_URL)
    outcome, pttl = begin(
        keys=list(_keys(username, ip)),
        args=[
            settings.LOGIN_FAILURES_PER_USER,
            settings.LOGIN_FAILURES_PER_IP,
            settings.LOGIN_LOCKOUT_SECONDS,
            settings.LOGIN_SLOWDOWN_MAX_SECONDS * 1000,
            "1" if known_browser else "0",
        ],
    )
    if outcome == ALLOWED:
        return Verdict(ALLOWED)
    # PTTL is -1 for a key without expiry (never written so) and -2 for one just expired.
    return Verdict(int(outcome), wait_seconds=max(1, -(-int(pttl) // 1000)))


def attempt_succeeded(username: str, ip: str) -> None:
    _begin, succeeded = _scripts(settings.REDIS_URL)
    user_key, ip_key, _wait_key = _keys(username, ip)
    succeeded(keys=[user_key, ip_key])
