"""Connection passwords at rest: Fernet tokens under a list of keys, newest first.

`cryptography`'s MultiFernet encrypts with the first key and decrypts with any,
so rotation is: put a new key first in ATLAS_CONNECTION_KEYS (keep the old ones
after it), restart, run `atlas connections rotate-key` to re-encrypt every
stored password under the new key, then drop the old keys. A token is
authenticated (AES-CBC + HMAC-SHA256): a tampered or foreign one fails to
decrypt instead of yielding garbage.
"""
from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.errors.configuration import ConfigurationError, ConnectionsConfigurationError

SETTING = "ATLAS_CONNECTION_KEYS"


class CredentialBox:
    """Encrypts and decrypts connection passwords; refuses to work without a key."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._fernets: list[Fernet] = []
        for index, key in enumerate(keys):
            try:
                self._fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                raise ConfigurationError(
                    f"{SETTING}: key {index + 1} is not a Fernet key (32 url-safe base64-encoded bytes); make one"
                    " with python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
                ) from None
        self._multi = MultiFernet(self._fernets) if self._fernets else None

    @property
    def configured(self) -> bool:
        return self._multi is not None

    def _box(self) -> MultiFernet:
        if self._multi is None:
            raise ConnectionsConfigurationError(
                f"org connections need an encryption key: set {SETTING} to one or more Fernet keys, newest first")
        return self._multi

    def encrypt(self, password: str) -> str:
        return self._box().encrypt(password.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The password; ConfigurationError when no configured key opens the token (a key was dropped too early)."""
        if not token:
            return ""
        try:
            return self._box().decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConnectionsConfigurationError(
                f"a stored connection password cannot be decrypted with any key of {SETTING}; the key it was"
                " encrypted with must stay in the list until `atlas connections rotate-key` has run") from None

    def rotate(self, token: str) -> str:
        """The token re-encrypted under the newest key (unchanged content)."""
        if not token:
            return token
        try:
            return self._box().rotate(token.encode()).decode()
        except InvalidToken:
            raise ConnectionsConfigurationError(
                f"a stored connection password cannot be decrypted with any key of {SETTING}") from None

    def is_current(self, token: str) -> bool:
        """True when the newest key alone opens the token."""
        if not token:
            return True
        try:
            self._fernets[0].decrypt(token.encode())
        except (InvalidToken, IndexError):
            return False
        return True
