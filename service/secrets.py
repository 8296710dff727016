"""Secrets kept out of printed settings, log lines and error messages."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# URL options whose value is a secret (MongoDB connection string options, lower case):
# AWS_SESSION_TOKEN travels in authMechanismProperties.
_SECRET_OPTIONS = frozenset({"authmechanismproperties", "tlscertificatekeyfilepassword"})


def mask_url(url: str) -> str:
    """The URL with its password and secret options replaced by ***.

    Splits as PyMongo does: the host list ends at the first "/", and the user info ends at
    the last "@" before it, so a password with an unescaped ":" or "@" is still masked.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:  # not a URL: mask whatever could be user info
        return _mask_user_info(url)
    hosts, slash, path = rest.partition("/")
    if not slash and "?" in hosts:  # options without the "/" PyMongo requires
        hosts, _, options = hosts.partition("?")
        path = "?" + options
    base, question, options = path.partition("?")
    masked_options = re.sub(r"(^|[&;])([^=&;]+)=([^&;]*)", _mask_option, options)
    return f"{scheme}://{_mask_user_info(hosts)}{slash}{base}{question}{masked_options}"


def _mask_user_info(hosts: str) -> str:
    user_info, at, host_list = hosts.rpartition("@")
    if not at:
        return hosts
    user, colon, _ = user_info.partition(":")
    return f"{user}{colon}{MASK}@{host_list}" if colon else f"{user}@{host_list}"


def _mask_option(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    return f"{separator}{name}={MASK if name.lower() in _SECRET_OPTIONS else value}"


def masked_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Settings as printable values: passwords masked, URLs without their credentials."""
    shown = {}
    for name, value in values.items():
        if value and "password" in name:
            shown[name] = MASK
        elif isinstance(value, str) and name.endswith("_url"):
            shown[name] = mask_url(value)
        else:
            shown[name] = value
    return shown
