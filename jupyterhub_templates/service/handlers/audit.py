"""``GET /audit``: the audit trail (:mod:`jupyterhub_templates.audit`), for templates
admins."""

from __future__ import annotations

from ...errors import InvalidInput
from ...metrics import Action
from .base import BaseHandler

#: the actions the trail records
AUDITED = tuple(a.value for a in Action)


class AuditHandler(BaseHandler):
    """Events newest first, filtered by user, action, target and time, paged."""

    async def get(self) -> None:
        await self.require_admin("read the audit trail")
        action = self.get_argument("action", None) or None
        if action is not None and action not in AUDITED:
            raise InvalidInput(f"action must be one of {', '.join(AUDITED)}.")
        page = await self.json_in_thread(
            self.settings["audit"].list,
            username=self.get_argument("username", None) or None,
            action=action,
            target=self.get_argument("target", None) or None,
            since=self.get_argument("since", None) or None,
            until=self.get_argument("until", None) or None,
            limit=min(self.int_argument("limit", 100, minimum=1), 500),
            offset=self.int_argument("offset", 0, minimum=0),
        )
        await self.send(page)


def routes() -> list[tuple[str, type[BaseHandler]]]:
    return [("audit", AuditHandler)]
