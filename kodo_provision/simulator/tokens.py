"""RS256 token signing and verification with a key generated once per process.

Entra signs access and id tokens with RS256 and publishes the keys at
`/{tenant}/discovery/v2.0/keys` (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens).
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

_CACHE_LIMIT = 4096


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process (generating one costs ~55 ms of CPU, and tests start many simulators); each
    simulator still names it with a `kid` of its own. Entra, too, signs with keys that live for weeks
    (https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TokenIssuer:
    """Signs JWTs and verifies the ones it signed (with a small verification cache)."""

    def __init__(self) -> None:
        self._key = _signing_key()
        self._public = self._key.public_key()
        self.kid = secrets.token_urlsafe(16)
        self._verified: dict[str, dict[str, Any]] = {}

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign `claims` as an RS256 JWT with our `kid` header."""
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def verify(self, token: str) -> dict[str, Any] | None:
        """Claims of a token we signed and that has not expired, else None.

        The audience is checked by the caller (Graph needs its own resource URI).
        """
        claims = self._verified.get(token)
        if claims is None:
            # The key is shared by the simulators of a process; the `kid` is each one's own, and a token whose
            # kid is not among the keys published (jwks) is refused: a validator looks the signing key up by the
            # token's `kid` (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-tokens).
            try:
                if jwt.get_unverified_header(token).get("kid") != self.kid:
                    return None
            except jwt.PyJWTError:
                return None
            try:
                claims = jwt.decode(
                    token,
                    self._public,
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_iss": False},
                )
            except jwt.PyJWTError:
                return None
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = claims
        elif claims.get("exp", 0) < time.time():  # cached, but expired since
            self._verified.pop(token, None)
            return None
        return claims

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set document."""
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._public))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}


def client_info(uid: str, utid: str) -> str:
    """MSAL's client_info: base64url JSON {"uid", "utid"} without padding."""
    raw = json.dumps({"uid": uid, "utid": utid}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
