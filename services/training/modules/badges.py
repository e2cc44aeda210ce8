"""Open Badges 3.0 credentials as VC-JWTs: the region's Ed25519 key, its public JWKS, the
``OpenBadgeCredential`` of a completed module, a Bitstring Status List (W3C, revocation purpose) and the
verification of a credential against all of that. Signing and checking signatures is PyJWT's; this
module only shapes the documents.

The JWT is the credential itself (OB 3.0 §8.2: its members at the top level) with the registered claims
``iss`` (issuer id), ``sub`` (subject id), ``jti`` (credential id), ``nbf`` (validFrom) and ``exp``
(validUntil); the header names the key (``kid``, its RFC 7638 thumbprint).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from clustergrowth import ids

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
ALGORITHM = "EdDSA"
STATUS_BITS = 131072  # the W3C minimum length (16 KiB): a list this long hides who is revoked
Doc = dict[str, Any]


def load_or_create_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The region's signing key from ``path``; created there first (mode 600) when it does not exist yet,
    the first of two racing processes winning (the development key, as the dev issuer does)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_suffix(f".{ids.uuid4().hex}.tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        tmp.unlink()
    return read_key(path)


def read_key(path: Path) -> ed25519.Ed25519PrivateKey:
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return loaded


def public_jwk(key: ed25519.Ed25519PublicKey) -> Doc:
    """The public key as a JWK with its thumbprint (RFC 7638) as ``kid``."""
    jwk: Doc = OKPAlgorithm.to_jwk(key, as_dict=True)
    members = {k: jwk[k] for k in ("crv", "kty", "x")}  # the required members, in lexical order
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": ALGORITHM}


def epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def iso(stamp: str) -> str:
    """A stored stamp as the VC data model writes a dateTime (seconds, ``Z``)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RegionIssuer:
    """One region as an issuer of badges: its id (a URL), name, key, and the URLs named from its base."""

    base_url: str
    region: str
    name: str
    key: ed25519.Ed25519PrivateKey

    @property
    def id(self) -> str:
        return f"{self.base_url}/credentials/issuer"

    @property
    def status_url(self) -> str:
        return f"{self.base_url}/credentials/status"

    @property
    def jwk(self) -> Doc:
        return public_jwk(self.key.public_key())

    def jwks(self) -> Doc:
        return {"keys": [self.jwk]}

    def profile(self) -> Doc:
        return {"id": self.id, "type": ["Profile"], "name": self.name}

    def sign(self, payload: Doc) -> str:
        return jwt.encode(payload, self.key, algorithm=ALGORITHM, headers={"kid": self.jwk["kid"], "typ": "JWT"})

    def badge(self, cid: str, module: Doc, enrolment: Doc, index: int, issued: str, until: str) -> tuple[Doc, str]:
        """The OpenBadgeCredential ``urn:uuid:<cid>`` of a completed module and its VC-JWT."""
        subject = f"urn:smeclustergrowth:person:{enrolment['person']}"
        credential: Doc = {
            "@context": [VC_CONTEXT, OB_CONTEXT],
            "id": f"urn:uuid:{cid}",
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "issuer": self.profile(),
            "validFrom": iso(issued),
            "validUntil": iso(until),
            "name": module["title"],
            "credentialSubject": {
                "id": subject,
                "type": ["AchievementSubject"],
                "achievement": {
                    "id": f"{self.base_url}/modules/{module['_id']}",
                    "type": ["Achievement"],
                    "achievementType": "Course",
                    "name": module["title"],
                    "description": module.get("description") or module["title"],
                    "criteria": {
                        "narrative": f"Attended at least {module.get('min_sessions') or len(module['sessions'])} "
                        f"of the {len(module['sessions'])} sessions ({module['duration_hours']} hours, "
                        f"{module['format']}, language {module['language']})."
                    },
                    "tag": list(module["practices"]),
                    "inLanguage": module["language"],
                },
            },
            "credentialStatus": {
                "id": f"{self.status_url}#{index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": str(index),
                "statusListCredential": self.status_url,
            },
        }
        claims = {"iss": self.id, "sub": subject, "jti": credential["id"], "nbf": epoch(issued), "exp": epoch(until)}
        return credential, self.sign({**credential, **claims})

    def status_list(self, revoked: list[int], now: str) -> str:
        """The region's BitstringStatusListCredential (revocation) as a VC-JWT."""
        credential = {
            "@context": [VC_CONTEXT],
            "id": self.status_url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": self.profile(),
            "validFrom": iso(now),
            "credentialSubject": {
                "id": f"{self.status_url}#list",
                "type": "BitstringStatusList",
                "statusPurpose": "revocation",
                "encodedList": encode_bits(revoked),
            },
        }
        return self.sign({**credential, "iss": self.id, "jti": self.status_url, "nbf": epoch(now)})


def encode_bits(set_bits: list[int], size: int = STATUS_BITS) -> str:
    """A Bitstring Status List's ``encodedList``: bit ``i`` (the left-most bit is index 0) set for each
    index given, GZIP-compressed, multibase base64url without padding (prefix ``u``)."""
    raw = bytearray(size // 8)
    for i in set_bits:
        raw[i // 8] |= 0x80 >> (i % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(raw), mtime=0)).rstrip(b"=").decode()


def bit(encoded: str, index: int) -> bool:
    """Whether bit ``index`` of an ``encodedList`` is set."""
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url (prefix u)")
    body = encoded[1:]
    raw = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if not 0 <= index < len(raw) * 8:
        raise ValueError(f"status index {index} is outside the list")
    return bool(raw[index // 8] & (0x80 >> (index % 8)))


def verify(issuer: RegionIssuer, token: str, revoked: set[int], now: datetime) -> Doc:
    """Check a credential as this region's verifier does: signature with a key this region publishes,
    issuer, type, validity window at ``now``, and the revocation bit. Answers every check by name."""
    checks: dict[str, bool | None] = {"signature": None, "issuer": None, "type": None, "expiry": None}
    checks["revocation"] = None
    errors: list[str] = []
    payload: Doc | None = None
    try:
        header = jwt.get_unverified_header(token)
        keys = {k["kid"]: k for k in issuer.jwks()["keys"]}
        if header.get("alg") != ALGORITHM or header.get("kid") not in keys:
            raise jwt.InvalidSignatureError("signed with a key this region does not publish")
        payload = jwt.decode(
            token,
            jwt.PyJWK(keys[header["kid"]]).key,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
        )
        checks["signature"] = True
    except jwt.PyJWTError as e:
        checks["signature"] = False
        errors.append(f"signature: {e}")
    if payload is not None:
        checks["issuer"] = payload.get("iss") == issuer.id and (payload.get("issuer") or {}).get("id") == issuer.id
        if not checks["issuer"]:
            errors.append(f"issuer: not {issuer.id}")
        types = payload.get("type") or []
        checks["type"] = "OpenBadgeCredential" in types and "VerifiableCredential" in types
        if not checks["type"]:
            errors.append("type: not an OpenBadgeCredential")
        t = int(now.timestamp())
        nbf, exp = payload.get("nbf"), payload.get("exp")
        checks["expiry"] = isinstance(nbf, int) and isinstance(exp, int) and nbf <= t < exp
        if not checks["expiry"]:
            errors.append("expiry: outside its validity (nbf/exp)")
        status = payload.get("credentialStatus") or {}
        try:
            index = int(status["statusListIndex"])
            ours = status.get("statusListCredential") == issuer.status_url
            checks["revocation"] = ours and status.get("statusPurpose") == "revocation" and index not in revoked
            if not ours:
                errors.append("revocation: the status list is not this region's")
            elif index in revoked:
                errors.append("revocation: the credential is revoked")
        except (KeyError, TypeError, ValueError):
            checks["revocation"] = False
            errors.append("revocation: no status entry")
    return {"valid": not errors, "checks": checks, "errors": errors, "credential": payload}
