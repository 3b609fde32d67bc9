"""Where the Luma API key comes from: the environment, else the OS keyring.

``LUMA_AGENTS_API_KEY`` wins (it is what the official SDK reads, and what a farm or CI sets);
otherwise the key ``genplate login`` stored in the OS keyring (macOS Keychain, Windows
Credential Locker, Secret Service on Linux). genplate never writes the key anywhere else: not
to the ledger, not to a config file, not to a log.

``GENPLATE_NO_KEYRING=1`` switches the keyring off entirely (tests set it, so no test ever
reads or writes a developer's real keychain; headless machines without a keyring backend
can set it too).
"""
from __future__ import annotations

import os
from typing import Optional

KEY_ENV = "LUMA_AGENTS_API_KEY"
NO_KEYRING_ENV = "GENPLATE_NO_KEYRING"
SERVICE = "genplate"
ACCOUNT = "luma-agents-api"
KEY_PREFIX = "luma-api-"


class CredentialsError(RuntimeError):
    """No usable key, or the keyring refused to store or forget it (the message says what to do)."""


def keyring_disabled() -> bool:
    return os.environ.get(NO_KEYRING_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _keyring():
    """The keyring module, or None when it is disabled or has no usable backend."""
    if keyring_disabled():
        return None
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
    except Exception:  # a broken keyring configuration must not stop the engine
        return None
    return keyring


def stored_key() -> Optional[str]:
    """The key `genplate login` stored, or None (no key, no keyring, or keyring disabled)."""
    kr = _keyring()
    if kr is None:
        return None
    try:
        value = kr.get_password(SERVICE, ACCOUNT)
    except Exception:  # a locked or broken keychain reads as "no stored key"
        return None
    return value.strip() if value and value.strip() else None


def api_key() -> tuple[Optional[str], str]:
    """(key, where it came from): "environment", "keyring", or (None, "none")."""
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        return env, "environment"
    key = stored_key()
    if key:
        return key, "keyring"
    return None, "none"


def require_key() -> str:
    key, _ = api_key()
    if not key:
        raise CredentialsError(
            f"no Luma API key: set {KEY_ENV}, or run `genplate login` to store one in the "
            "OS keyring (keys start with 'luma-api-'; create one in your Luma account)")
    return key


def check_key_format(key: str) -> str:
    """The key, stripped; refuses text that cannot be a key (before it is sent anywhere)."""
    key = (key or "").strip()
    if not key:
        raise CredentialsError("no key given")
    if any(c.isspace() for c in key) or not key.isprintable():
        raise CredentialsError("that is not an API key (it contains spaces or control characters)")
    if not key.startswith(KEY_PREFIX):
        raise CredentialsError(f"that is not a Luma Agents API key: keys start with '{KEY_PREFIX}'")
    return key


def store_key(key: str) -> None:
    kr = _keyring()
    if kr is None:
        raise CredentialsError(
            "no OS keyring available to store the key"
            + (f" ({NO_KEYRING_ENV} is set)" if keyring_disabled() else "")
            + f": set {KEY_ENV} in the environment instead")
    try:
        kr.set_password(SERVICE, ACCOUNT, check_key_format(key))
    except CredentialsError:
        raise
    except Exception as exc:
        raise CredentialsError(f"the OS keyring refused to store the key ({type(exc).__name__}); "
                               f"set {KEY_ENV} instead") from None


def forget_key() -> bool:
    """Remove the stored key; True when there was one."""
    kr = _keyring()
    if kr is None:
        return False
    try:
        if kr.get_password(SERVICE, ACCOUNT) is None:
            return False
        kr.delete_password(SERVICE, ACCOUNT)
        return True
    except Exception as exc:
        raise CredentialsError(f"the OS keyring refused to forget the key "
                               f"({type(exc).__name__})") from None


__all__ = ["CredentialsError", "KEY_ENV", "api_key", "require_key", "stored_key", "store_key",
           "forget_key", "check_key_format", "keyring_disabled"]
