"""Secrets and tokens: secrets are scrypt-hashed with a salt; tokens are opaque random strings
stored only as their sha256 (a token is already high-entropy, so a fast hash is enough and keeps
per-request authentication to one indexed lookup)."""

import functools
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

# OWASP's scrypt floor (N=2^17, r=8, p=1) costs ~128 MiB and ~0.3 s a check; 2^14 keeps /token
# fast enough for sites that refresh often while staying far beyond brute force for random secrets.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, hashed: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)


# Every run worker at a site is a new process that logs in once: an scrypt of ~50 ms of the runtime's
# CPU per Dagster run. So a site client's secret, once verified against a stored hash, is remembered
# by a salted sha256 of the two (never the secret itself). Wrong secrets are never remembered, so each
# guess still costs an scrypt; a new secret (a new hash) or a revoked client is checked afresh.
_REMEMBERED_MAX = 4096
_remembered: OrderedDict[str, None] = OrderedDict()
_remembered_lock = threading.Lock()


def verify_secret_remembered(secret: str, hashed: str) -> bool:
    """`verify_secret`, skipping the scrypt for a secret already verified against this very hash."""
    key = hashlib.sha256(f"{hashed}\0{secret}".encode()).hexdigest()
    with _remembered_lock:
        if key in _remembered:
            _remembered.move_to_end(key)
            return True
    if not verify_secret(secret, hashed):
        return False
    with _remembered_lock:
        _remembered[key] = None
        if len(_remembered) > _REMEMBERED_MAX:
            _remembered.popitem(last=False)
    return True


@functools.cache
def dummy_hash() -> str:
    """A hash no secret matches, checked when the id is unknown so that costs what a wrong secret costs
    (otherwise the reply's timing tells which user names and client ids exist)."""
    return hash_secret(new_secret())


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(10)}"
