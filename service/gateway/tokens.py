"""OAuth access tokens, as the platform's `/v3/oauth/token/generate` issues them: signed
JWTs (PyJWT) carrying the org (`org_id`), the client (`client_id`), `iat` and `exp`.

Signed with HS256 and the users file's `tokenKey`, which every gateway replica mounting
the file shares: a token one replica issued is accepted by the others, and replacing the
key (a new file) ends every token at once. A token is checked for its signature, its
issuer, its expiry (no leeway) and every claim; the client must still be in the file, with
the org the token names.
"""

from __future__ import annotations

from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "badges-gateway"
CLAIMS = ("iss", "iat", "exp", "org_id", "client_id")


def issue(signing_key: str, org_id: int, client_id: str, now: int, ttl_seconds: int) -> str:
    claims = {"iss": ISSUER, "iat": now, "exp": now + ttl_seconds, "org_id": org_id,
              "client_id": client_id}
    return jwt.encode(claims, bytes.fromhex(signing_key), algorithm=ALGORITHM)


def verified_claims(signing_key: str, token: str) -> dict[str, Any] | None:
    """The token's claims if it is valid now, else None (expired, forged, malformed)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, bytes.fromhex(signing_key), algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": list(CLAIMS)})
    except jwt.InvalidTokenError:
        return None
    if not isinstance(claims["org_id"], int) or not isinstance(claims["client_id"], str):
        return None
    return claims
