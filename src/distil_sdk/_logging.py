"""Keep presigned URLs' signatures out of httpx's own log lines.

httpx logs every request at INFO (``HTTP Request: GET https://...?X-Amz-Signature=...``), and a
presigned URL's query string is a credential: anyone who reads the log could fetch (or
overwrite) the object until the URL expires. The SDK's own lines already drop the query
(`distil_sdk._request.redact`); this filter does the same to httpx's records, so that turning
on INFO logging never leaks one. It changes no log level and no handler.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

__all__ = ["REDACTED_QUERY", "RedactURLQuery", "install_httpx_redaction"]

REDACTED_QUERY = "?<redacted>"

# A URL in free text: scheme and host, then anything up to the query. What follows the '?' up
# to whitespace or a quote is the query (and fragment) that goes.
_URL_WITH_QUERY = re.compile(r"""(https?://[^\s?#"'<>]+)\?[^\s"'<>]*""")


def _redact_text(text: str) -> str:
    return _URL_WITH_QUERY.sub(lambda m: m.group(1) + REDACTED_QUERY, text)


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, httpx.URL):
        if not arg.query and not arg.fragment:
            return arg
        return str(arg.copy_with(query=None, fragment=None)) + REDACTED_QUERY
    if isinstance(arg, str):
        return _redact_text(arg)
    return arg


class RedactURLQuery(logging.Filter):
    """Replace the query string of every URL in a record with ``?<redacted>``.

    Scheme, host and path stay, so a log still says which object was fetched. Every query is
    dropped, not only known signature parameters: presigned URLs of other stores name theirs
    differently (``sig``, ``X-Goog-Signature``, ``token``...).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_arg(value) for key, value in record.args.items()}
        return True  # redact, never drop: the user chose to see these lines


def install_httpx_redaction(logger_name: str = "httpx") -> None:
    """Attach `RedactURLQuery` to the ``httpx`` logger once (calling again adds nothing).

    A filter on the logger itself sees every record httpx creates, before any handler (the
    user's, pytest's caplog, a root handler) formats it.
    """
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactURLQuery) for f in logger.filters):
        logger.addFilter(RedactURLQuery())
