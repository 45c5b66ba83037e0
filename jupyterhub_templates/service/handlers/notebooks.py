"""Routes for notebooks: creation from a template, and the original API's records
(``/submit-notebook``, ``/notebooks``, ``/notebook/{id}``)."""

from __future__ import annotations

from typing import Any

from ...catalog.parameters import check_parameters
from ...errors import InvalidInput
from ...metrics import Action
from ...notebooks.creator import CreateRequest
from ...notebooks.paths import clean_notebook_path
from .base import BaseHandler, audit_text, parse_id

MAX_DESCRIPTION = 10_000


def _description(body: dict[str, Any]) -> str | None:
    value = body.get("description")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise InvalidInput(f"description must be a string of at most {MAX_DESCRIPTION} characters.")
    return value


class CreateFromTemplateHandler(BaseHandler):
    """``POST /create-from-template``."""

    actions = {"POST": Action.CREATE}

    async def post(self) -> None:
        body = await self.json_body()
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidInput("version must be an integer.")
        parameters = body.get("parameters")
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise InvalidInput("parameters must be a JSON object.")
        self.audit_target = audit_text(body.get("template_name"))
        request = CreateRequest(
            username=await self.acting_for(body.get("username")),
            template_name=self.body_str(body, "template_name", required=True) or "",
            target_directory=self.body_str(body, "target_directory") or "",
            new_name=self.body_str(body, "new_name"),
            parameters=parameters,
            allow_unknown=self.body_bool(body, "allow_unknown"),
            overwrite=self.body_bool(body, "overwrite"),
            version=version,
            description=_description(body) or "",
        )
        result = await self.settings["creator"].create(request)
        self.audit_target = result.get("new_notebook_path") or self.audit_target
        await self.write_json_off_loop(result, 201)


class SubmitNotebookHandler(BaseHandler):
    """``POST /submit-notebook`` (legacy): record a notebook of the user's server."""

    actions = {"POST": Action.RECORD_CHANGE}

    async def post(self) -> None:
        body = await self.json_body()
        username = await self.acting_for(body.get("username"))
        path = clean_notebook_path(body.get("notebook_path"))
        description = _description(body) or ""
        parameters = await self.in_payload_lane(
            check_parameters, [], body.get("parameters"), allow_unknown=True
        )
        record = await self.in_thread(
            self.settings["notebook_records"].add,
            username=username,
            path=path,
            parameters=parameters,
            source="submitted",
            description=description,
        )
        await self.write_json_off_loop(
            {"status": "success", "notebook_id": record["id"], "notebook": record}, 201
        )


class NotebooksHandler(BaseHandler):
    """``GET /notebooks``: the caller's notebook records (admins: anyone's)."""

    async def get(self) -> None:
        username: str | None = self.get_argument("username", None)
        if username:
            username = await self.may_read_for(username)
        elif await self.admin_listing():
            username = None
        else:
            username = self.username
        page = await self.in_thread(  # a large page takes the bulk lane as it grows
            self.settings["notebook_records"].list_json,
            username or None,
            template=self.get_argument("template", None) or None,
            limit=min(self.int_argument("limit", 50, minimum=1), 500),
            offset=self.int_argument("offset", 0, minimum=0),
            max_bytes=self.settings["max_answer_bytes"],
        )
        await self.send(page)


class NotebookHandler(BaseHandler):
    """``GET|PUT|DELETE /notebook/{id}``: one record (the owner's or, for admins, any)."""

    actions = {"PUT": Action.RECORD_CHANGE, "DELETE": Action.RECORD_CHANGE}

    def _id(self, raw: str) -> int:
        return parse_id(raw, "notebook")

    async def get(self, raw_id: str) -> None:
        records, notebook_id = self.settings["notebook_records"], self._id(raw_id)
        await self.send(
            await self.own_or_any(
                lambda owner: self.json_in_thread(records.get, notebook_id, owner)
            )
        )

    async def put(self, raw_id: str) -> None:
        body = await self.json_body()
        unknown = set(body) - {"notebook_path", "description", "parameters"}
        if unknown:
            raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.")
        notebook_id = self._id(raw_id)
        path = body.get("notebook_path")
        path = clean_notebook_path(path) if path is not None else None
        description = _description(body)
        parameters = body.get("parameters")
        if parameters is not None:
            parameters = await self.in_payload_lane(
                check_parameters, [], parameters, allow_unknown=True
            )
        update = self.settings["notebook_records"].update
        answer = await self.own_or_any(
            lambda owner: self.json_in_thread(
                update,
                notebook_id,
                owner,
                path=path,
                description=description,
                parameters=parameters,
            )
        )
        await self.send(answer)

    async def delete(self, raw_id: str) -> None:
        records, notebook_id = self.settings["notebook_records"], self._id(raw_id)
        await self.own_or_any(lambda owner: self.in_thread(records.delete, notebook_id, owner))
        self.set_status(204)
        self.finish()


def routes() -> list[tuple[str, type]]:
    return [
        ("create-from-template", CreateFromTemplateHandler),
        ("submit-notebook", SubmitNotebookHandler),
        ("notebooks", NotebooksHandler),
        (r"notebook/([^/]+)", NotebookHandler),
    ]
