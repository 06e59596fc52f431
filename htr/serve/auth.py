"""API keys (kept only as SHA-256 hashes) and per-client token-bucket rate limits.

Keys are long random secrets, not passwords, so one unsalted SHA-256 is enough to
make a leaked keys file useless while a lookup stays a dict access. Hashes come
from a file (one `NAME:SHA256HEX` or `SHA256HEX` per line, `#` comments) and/or
an environment variable (the same entries, comma-separated).

  python -m htr.serve.auth NEW_KEY     # prints the line to put in the keys file
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import secrets
import sys
import threading
import time

from htr.errors import InputError

ENV_VAR = "HTR_API_KEYS"  # Comma-separated `NAME:SHA256HEX` entries.
_HEX = re.compile(r"^[0-9a-f]{64}$")


def hash_key(key: str) -> str:
  """The hex SHA-256 of an API key: what is stored instead of the key."""
  return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _parse_entries(entries: list[str], where: str) -> dict[str, str]:
  """`NAME:HASH` or `HASH` lines -> {hash: name}; a malformed line is an error, not skipped."""
  out = {}
  for number, entry in enumerate(entries, 1):
    entry = entry.split("#", 1)[0].strip()
    if not entry:
      continue
    name, _, digest = entry.rpartition(":")
    digest = digest.strip().lower()
    if not _HEX.match(digest):
      raise InputError(f"entry {number} is not NAME:SHA256HEX (64 hex digits); store "
                       "hashes, never keys (python -m htr.serve.auth KEY)", path=where)
    out[digest] = name.strip() or f"key{len(out) + 1}"
  return out


def load_key_hashes(path: str | None = None, env: dict[str, str] | None = None
                    ) -> dict[str, str]:
  """{sha256 hex: key name} from the keys file and the `HTR_API_KEYS` variable.

  Raises:
    InputError: for a missing or unreadable file, a malformed entry, or a source that
      is given but holds no key (with every key revoked, the API would be open).
  """
  env = os.environ if env is None else env
  hashes = {}
  if path:
    if not os.path.isfile(path):
      raise InputError("no such API keys file", path=path)
    try:
      with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    except UnicodeDecodeError as e:
      raise InputError(f"not a UTF-8 text file ({e.reason} at byte {e.start})",
                       path=path) from None
    if not (entries := _parse_entries(lines, path)):
      raise InputError("the API keys file holds no key; with none the API would be open "
                       "to anyone (leave out --keys_file for that)", path=path)
    hashes.update(entries)
  if env.get(ENV_VAR):
    if not (entries := _parse_entries(env[ENV_VAR].split(","), f"${ENV_VAR}")):
      raise InputError(f"${ENV_VAR} is set but holds no key; unset it for an open API")
    hashes.update(entries)
  return hashes


class KeyStore:
  """Checks presented keys against stored hashes. Empty store: no key needed."""

  def __init__(self, hashes: dict[str, str]):
    self._hashes = dict(hashes)

  @property
  def required(self) -> bool:
    return bool(self._hashes)

  def identify(self, key: str | None) -> str | None:
    """The key's name, or None if the key is missing or unknown."""
    if not key:
      return None
    return self._hashes.get(hash_key(key))


@dataclasses.dataclass
class _Bucket:
  tokens: float
  updated: float


class RateLimiter:
  """A token bucket per client: `rate` requests per second, bursts up to `burst`.

  Buckets idle long enough to be full are forgotten, so unauthenticated clients
  (keyed by address) cannot grow the table without bound.
  """

  def __init__(self, rate: float, burst: int, clock=time.monotonic):
    self.rate, self.burst, self._clock = rate, burst, clock
    self._buckets: dict[str, _Bucket] = {}
    self._lock = threading.Lock()

  def acquire(self, client: str, cost: float = 1.0) -> float:
    """0 if `client` may go ahead now (and charges it), else seconds until it may."""
    if self.rate <= 0:
      return 0.0
    now = self._clock()
    with self._lock:
      bucket = self._buckets.get(client)
      if bucket is None:
        if len(self._buckets) > 10_000:
          self._forget_full(now)
        bucket = self._buckets[client] = _Bucket(float(self.burst), now)
      bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
      bucket.updated = now
      if bucket.tokens >= cost:
        bucket.tokens -= cost
        return 0.0
      return (cost - bucket.tokens) / self.rate

  def _forget_full(self, now: float) -> None:
    full_after = self.burst / self.rate
    self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < full_after}


def main(argv: list[str]) -> int:
  key = argv[1] if len(argv) > 1 else secrets.token_urlsafe(32)
  if len(argv) <= 1:
    print(f"# new key (give it to the client, do not store it): {key}", file=sys.stderr)
  print(f"client:{hash_key(key)}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
