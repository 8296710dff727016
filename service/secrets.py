"""Secrets kept out of printed settings, log lines and error messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

MASK = "***"

# URL options whose value is a secret (MongoDB connection string options, lower case):
# AWS_SESSION_TOKEN travels in authMechanismProperties.
_SECRET_OPTIONS = frozenset({"authmechanismproperties", "tlscertificatekeyfilepassword"})
_OPTION = re.compile(r"(^|[&;])([^=&;]+)=([^&;]*)")
# Shorter "secrets" would mask ordinary words in every log line; they are weak anyway.
_SHORTEST_REDACTED = 4


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
    return (f"{scheme}://{_mask_user_info(hosts)}{slash}{base}{question}"
            f"{_OPTION.sub(_mask_option, options)}")


def _user_info(hosts: str) -> tuple[str, str | None, str] | None:
    """(user, password or None, host list) of "user:password@hosts", None without an "@"."""
    user_info, at, host_list = hosts.rpartition("@")
    if not at:
        return None
    user, colon, password = user_info.partition(":")
    return user, password if colon else None, host_list


def _mask_user_info(hosts: str) -> str:
    found = _user_info(hosts)
    if found is None:
        return hosts
    user, password, host_list = found
    return f"{user}@{host_list}" if password is None else f"{user}:{MASK}@{host_list}"


def _mask_option(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    return f"{separator}{name}={MASK if name.lower() in _SECRET_OPTIONS else value}"


def url_password(url: str) -> str | None:
    """The password in the URL's user info, as written and decoded (None if it has none)."""
    found = _user_info(url.partition("://")[2].partition("/")[0].partition("?")[0])
    return None if found is None else found[1]


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


def secrets_of(values: dict[str, Any]) -> list[str]:
    """The secret strings in the settings: passwords, and URLs' passwords and secret options."""
    found: list[str] = []
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            continue
        if "password" in name:
            found.append(value)
        elif name.endswith("_url"):
            password = url_password(value)
            if password:
                found += [password, unquote(password)]
            found += [m.group(3) for m in _OPTION.finditer(value.partition("?")[2])
                      if m.group(2).lower() in _SECRET_OPTIONS and m.group(3)]
    return found


def redactor(secrets: Iterable[str]) -> Callable[[str], str] | None:
    """A function replacing each secret in a text with ***; None if there is no secret."""
    # Also as a bytes repr shows it (escaped): aiokafka's DEBUG lines dump SASL frames so.
    forms = {form for secret in secrets if len(secret) >= _SHORTEST_REDACTED
             for form in (secret, repr(secret.encode())[2:-1])}
    values = sorted(forms, key=len, reverse=True)  # a secret holding another goes first
    if not values:
        return None

    def redact(text: str) -> str:
        if any(value in text for value in values):
            for value in values:
                text = text.replace(value, MASK)
        return text

    return redact


_TRACEBACKS = logging.Formatter()


def redact_logs(secrets: Iterable[str]) -> None:
    """Replace each secret in every log record's message, traceback and stack with ***,
    whoever logs it and whichever formatter prints it.

    A record factory, not a filter: logging handlers are replaced when faust sets up its
    logging, the factory stays. It runs only for records a logger's level lets through.
    """
    redact = redactor(secrets)
    if redact is None:
        return
    make_record = logging.getLogRecordFactory()

    def redacted(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to the handler's own error report
            return record
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        # Tracebacks too, formatted once here: every formatter (faust's text one as well)
        # prints a record's exc_text when it is set, rather than format the exception again.
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(redacted)
