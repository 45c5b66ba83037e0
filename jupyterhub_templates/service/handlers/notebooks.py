"""Routes for notebooks: creation from a template, and the seed's legacy records
(``/submit-notebook``, ``/notebooks``, ``/notebook/{id}``)."""

from __future__ import annotations

from typing import Any

from ...catalog.parameters import check_parameters
from ...errors import InvalidInput
from ...notebooks.creator import CreateRequest
from ...notebooks.paths import clean_notebook_path
from .base import BaseHandler, parse_id

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

    async def post(self) -> None:
        body = self.json_body()
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidInput("version must be an integer.")
        parameters = body.get("parameters")
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise InvalidInput("parameters must be a JSON object.")
        request = CreateRequest(
            username=self.acting_for(body.get("username")),
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
        self.write_json(result, 201)


class SubmitNotebookHandler(BaseHandler):
    """``POST /submit-notebook`` (legacy): record a notebook of the user's server."""

    async def post(self) -> None:
        body = self.json_body()
        username = self.acting_for(body.get("username"))
        path = clean_notebook_path(body.get("notebook_path"))
        parameters = check_parameters([], body.get("parameters"), allow_unknown=True)
        record = await self.run(
            self.settings["notebook_records"].add,
            username=username,
            path=path,
            parameters=parameters,
            source="submitted",
            description=_description(body) or "",
        )
        self.write_json({"status": "success", "notebook_id": record["id"], "notebook": record}, 201)


class NotebooksHandler(BaseHandler):
    """``GET /notebooks``: the caller's notebook records (admins: anyone's)."""

    async def get(self) -> None:
        username = self.get_argument("username", None)
        if username:
            username = self.acting_for(username)
        elif not (self.is_templates_admin and self.bool_argument("all")):
            username = self.username
        page = await self.run(
            self.settings["notebook_records"].list,
            username or None,
            template=self.get_argument("template", None) or None,
            limit=min(self.int_argument("limit", 50, minimum=1), 500),
            offset=self.int_argument("offset", 0, minimum=0),
        )
        self.write_json(page)


class NotebookHandler(BaseHandler):
    """``GET|PUT|DELETE /notebook/{id}``: one record (the owner's or, for admins, any)."""

    def _id(self, raw: str) -> int:
        return parse_id(raw, "notebook")

    async def get(self, raw_id: str) -> None:
        records = self.settings["notebook_records"]
        self.write_json(await self.run(records.get, self._id(raw_id), self.owner_filter))

    async def put(self, raw_id: str) -> None:
        body = self.json_body()
        unknown = set(body) - {"notebook_path", "description", "parameters"}
        if unknown:
            raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.")
        path = body.get("notebook_path")
        parameters = body.get("parameters")
        record = await self.run(
            self.settings["notebook_records"].update,
            self._id(raw_id),
            self.owner_filter,
            path=clean_notebook_path(path) if path is not None else None,
            description=_description(body),
            parameters=(
                check_parameters([], parameters, allow_unknown=True)
                if parameters is not None
                else None
            ),
        )
        self.write_json(record)

    async def delete(self, raw_id: str) -> None:
        records = self.settings["notebook_records"]
        await self.run(records.delete, self._id(raw_id), self.owner_filter)
        self.set_status(204)
        self.finish()


def notebook_routes() -> list[tuple[str, type]]:
    return [
        ("create-from-template", CreateFromTemplateHandler),
        ("submit-notebook", SubmitNotebookHandler),
        ("notebooks", NotebooksHandler),
        (r"notebook/([^/]+)", NotebookHandler),
    ]
