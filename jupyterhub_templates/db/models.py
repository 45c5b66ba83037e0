"""SQLAlchemy models. Schema changes go through a new Alembic migration in
``migrations/versions`` (the models and the migrations must agree: a test checks)."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: Any) -> Any:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value

    def process_result_value(self, value: datetime.datetime | None, dialect: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class Template(Base):
    """A template as the catalog lists it: its name and its current version's facts,
    copied from that version so that listing reads one table."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("name", name="uq_templates_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``<category>/<file>.ipynb``, also the store key of the current version
    name: Mapped[str] = mapped_column(String(320))
    category: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    current_version: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    kernel_name: Mapped[str] = mapped_column(String(255), default="")
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    uploader: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="TemplateVersion.version",
    )


class TemplateVersion(Base):
    """One uploaded version of a template. Versions are immutable once written."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE", name="fk_versions_template"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    #: where this version's bytes are, e.g. ``.versions/ml/a.ipynb/3.ipynb``
    object_key: Mapped[str] = mapped_column(String(400))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    kernel_name: Mapped[str] = mapped_column(String(255), default="")
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    uploader: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)

    template: Mapped[Template] = relationship(back_populates="versions")
