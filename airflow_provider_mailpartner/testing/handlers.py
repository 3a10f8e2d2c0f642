"""The API commands, one thin function each: read the parameters, call the backend, answer.

Refusals are raised as :class:`ApiError` (by the backend or here) and rendered by the server.
"""

from __future__ import annotations

import hmac

from airflow_provider_mailpartner.client.commands import ApiCode

from . import wire
from .context import ApiRequest
from .errors import ApiError
from .wire import WireResponse


def authenticate(request: ApiRequest) -> None:
    """Check ``apiKey`` before any command runs.

    :raises ApiError: code 1 when missing or empty, code 10 when wrong.
    """
    key = request.text("apiKey")
    if not key:
        raise ApiError(ApiCode.API_KEY_REQUIRED)
    if not hmac.compare_digest(key.encode(), request.context.api_key.encode()):
        raise ApiError(ApiCode.WRONG_API_KEY)


def list_unsubscribes(request: ApiRequest) -> WireResponse:
    """``GET /v1/unsubscribe/list``: the whole list, no paging (served from the list cache)."""
    context = request.context
    return context.list_cache.response(context.backend, request.response_format)


def add_unsubscribe(request: ApiRequest) -> WireResponse:
    """``POST /v1/unsubscribe/add``: ``{"stopId": <new id>}``; codes 2, 9 and 3 from the backend."""
    email = request.text("email") or ""
    stop_id = request.context.backend.add(email)
    return wire.ok_response(request.response_format, stopId=stop_id)


def delete_unsubscribe(request: ApiRequest) -> WireResponse:
    """``/v1/unsubscribe/delete``: remove by ``id``; code 3 without one, 4 for an unknown one."""
    raw = request.text("id")
    if raw is None or not raw.strip():
        raise ApiError(ApiCode.ID_REQUIRED, "Id required")
    try:
        entry_id = int(raw.strip())
    except ValueError:
        raise ApiError(ApiCode.ID_NOT_FOUND) from None
    request.context.backend.delete(entry_id)
    return wire.ok_response(request.response_format)


def me(request: ApiRequest) -> WireResponse:
    """``GET /v1/me``: the account's user name and credits."""
    backend = request.context.backend
    credits = backend.credits()
    return wire.ok_response(
        request.response_format,
        user={"username": backend.username},
        credits={"creditMail": credits["creditMail"], "currency": credits["currency"], "balance": credits["balance"]},
    )
