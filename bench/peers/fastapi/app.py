"""FastAPI + SQLAlchemy peer of Bollard's task list and create routes, for `make bench-tasks` only.

Written the way a typical such service is: SQLAlchemy 2.x ORM on its asyncio extension with the
asyncpg driver, one AsyncSession per request from a dependency, Pydantic response models, a PyJWT
HS256 bearer dependency. Same tables (migrations/), same JSON shape and cursor format, same token
(SECRET_KEY, HS256, `sub` = user id) as `bollard api`. Each create writes its outbox row in the same
transaction as the task. Env: DATABASE_URL (postgresql://…), SECRET_KEY.
Run: uvicorn app:app --workers 1 (with uvloop and httptools, as `uvicorn[standard]` installs).
"""
import os
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, AsyncIterator, Optional

import jwt
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, Text, func, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Pool: more connections than the 1-worker process can keep busy, so the pool is never the limit.
engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=10)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(BigInteger, default=1)


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class Outbox(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    task_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    type: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSONB)


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    title: str
    description: str
    completed: bool
    due_at: Optional[datetime]
    created_at: datetime
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: Optional[str]


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    completed: bool = False
    due_at: Optional[datetime] = None


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


bearer = HTTPBearer(auto_error=False)


def current_user(creds: Annotated[Optional[HTTPAuthorizationCredentials], Depends(bearer)]) -> uuid.UUID:
    if creds is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        # Bollard's tokens name it as issuer and audience (pkg/auth); the peer checks the same.
        claims = jwt.decode(creds.credentials, SECRET_KEY, algorithms=["HS256"], audience="bollard",
                            issuer="bollard", options={"require": ["exp", "sub", "aud", "iss"]})
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"})


def cursor_of(t: Task) -> str:
    delta = t.created_at - EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}.{t.id}"


def parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        micros, tid = cursor.split(".", 1)
        return EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(tid)
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "invalid cursor")


app = FastAPI(title="tasks (FastAPI peer)")

UserId = Annotated[uuid.UUID, Depends(current_user)]
Session = Annotated[AsyncSession, Depends(get_session)]


@app.get("/api/tasks", response_model=TaskPage)
async def list_tasks(user_id: UserId, session: Session, limit: int = Query(20, ge=1, le=100),
                     cursor: Optional[str] = None, completed: Optional[bool] = None):
    stmt = select(Task).where(Task.user_id == user_id)
    if completed is not None:
        stmt = stmt.where(Task.completed == completed)
    if cursor:
        stmt = stmt.where(tuple_(Task.created_at, Task.id) < tuple_(*parse_cursor(cursor)))
    stmt = stmt.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = cursor_of(rows[limit - 1]) if len(rows) > limit else None
    return TaskPage(items=[TaskOut.model_validate(t) for t in rows[:limit]], next_cursor=next_cursor)


@app.post("/api/tasks", response_model=TaskOut, status_code=status.HTTP_201_CREATED)
async def create_task(body: TaskCreate, user_id: UserId, session: Session):
    task = Task(user_id=user_id, **body.model_dump())
    session.add(task)
    await session.flush()  # INSERT … RETURNING the server defaults (created_at, updated_at)
    out = TaskOut.model_validate(task)
    session.add(Outbox(user_id=user_id, task_id=task.id, type="task.created", payload=out.model_dump(mode="json")))
    await session.commit()
    return out
