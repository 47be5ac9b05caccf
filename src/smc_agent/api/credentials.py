"""Exchange credentials encrypted at rest (Fernet, key derived from ``SMC_MASTER_KEY`` by HKDF).

Only a masked hint of the API key is ever returned; decrypting is for the trading runtime.
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"smc-agent exchange credentials v1"


class CredentialError(ValueError):
    """Encrypted credentials that cannot be read with this master key."""


def _fernet(master_key: str) -> Fernet:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(master_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt_credentials(master_key: str, credentials: dict[str, str]) -> bytes:
    return _fernet(master_key).encrypt(json.dumps(credentials, sort_keys=True).encode())


def decrypt_credentials(master_key: str, blob: bytes) -> dict[str, str]:
    try:
        return dict(json.loads(_fernet(master_key).decrypt(blob)))
    except InvalidToken:
        raise CredentialError("exchange credentials cannot be decrypted: wrong SMC_MASTER_KEY?") from None


def mask(api_key: str) -> str:
    if len(api_key) <= 8:
        return "…" + api_key[-2:]
    return f"{api_key[:4]}…{api_key[-4:]}"
