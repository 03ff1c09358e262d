"""FastAPI peer of Bollard's chat route `POST /api/{user_id}/chat`, for `make bench-chat` only.

Written the way the todo-chatbot seeds write it: the official `openai` SDK (`AsyncOpenAI`) pointed
at an OpenAI-compatible server, a list of five task tools, and the stateless cycle — open (or
create) the conversation, load its history, store the user's message, call the model, store the
answer, return `{conversation_id, message_id, response, tool_calls}` — on SQLAlchemy 2.x's asyncio
extension with asyncpg, one AsyncSession per request from a dependency, and a PyJWT HS256 bearer
dependency, like the tasks peer (app.py). Same tables (migrations/0005_conversations.sql) and token
as `bollard api`; the same system prompt, tool definitions, max_tokens and temperature as Bollard
sends with its defaults, so both ask the model the same thing (bench/chat_bench.py checks it).

Only the answer path is here: the bench's fake provider answers text, never a tool call, so a
tool call is answered 502 rather than run (the seeds run the tool and call the model again).
Env: DATABASE_URL (postgresql://…), SECRET_KEY, LLM_BASE_URL, LLM_MODEL, LLM_API_KEY (optional).
Run: uvicorn chat_app:app --workers 1 (with uvloop and httptools, as `uvicorn[standard]` installs).
"""
import os
import uuid
from datetime import datetime, timezone
from typing import Annotated, AsyncIterator, Optional

import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from openai import AsyncOpenAI
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, DateTime, Identity, Text, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+asyncpg://", 1)
MODEL = os.environ["LLM_MODEL"]
AGENT_NAME = "TodoAssistant"
INSTRUCTIONS = ("You help the user manage their todo list: add, list, complete, update and delete tasks with the "
                "tools. Find a task's id with list_tasks before changing it; never invent ids. Be brief.")
HISTORY = 20

engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=10)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
client = AsyncOpenAI(base_url=os.environ["LLM_BASE_URL"], api_key=os.environ.get("LLM_API_KEY") or "none",
                     timeout=60.0)

ID = {"type": "string", "description": "the task's id (a UUID, as list_tasks shows it)"}
DUE = {"type": ["string", "null"], "format": "date-time"}
TOOLS = [
    {"type": "function", "function": {
        "name": "add_task", "description": "Create a task for the user.",
        "parameters": {"type": "object", "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000},
            "due_at": dict(DUE, description="RFC 3339 date-time, e.g. 2030-01-31T17:00:00Z")},
            "required": ["title"]}}},
    {"type": "function", "function": {
        "name": "list_tasks", "description": "List the user's tasks, newest first.",
        "parameters": {"type": "object", "properties": {
            "status": {"type": "string", "enum": ["all", "pending", "completed"], "default": "all"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}}}},
    {"type": "function", "function": {
        "name": "complete_task",
        "description": "Mark a task as completed (or, with completed=false, as pending again).",
        "parameters": {"type": "object", "properties": {
            "task_id": ID, "completed": {"type": "boolean", "default": True}}, "required": ["task_id"]}}},
    {"type": "function", "function": {
        "name": "update_task",
        "description": "Change a task's title, description, due date or completion; omitted fields stay.",
        "parameters": {"type": "object", "properties": {
            "task_id": ID, "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000}, "due_at": DUE, "completed": {"type": "boolean"}},
            "required": ["task_id"]}}},
    {"type": "function", "function": {
        "name": "delete_task", "description": "Delete a task.",
        "parameters": {"type": "object", "properties": {"task_id": ID}, "required": ["task_id"]}}},
]


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Message(Base):
    __tablename__ = "messages"
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    role: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text, default="")
    tool_calls: Mapped[Optional[list]] = mapped_column(JSONB, nullable=True)
    tool_call_id: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4000)
    conversation_id: Optional[uuid.UUID] = None


class ChatResponse(BaseModel):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    response: str
    tool_calls: list[dict]


app = FastAPI()
bearer = HTTPBearer()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


def current_user(creds: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> uuid.UUID:
    try:
        # Bollard's tokens name it as issuer and audience (pkg/auth); the peer checks the same.
        claims = jwt.decode(creds.credentials, SECRET_KEY, algorithms=["HS256"], audience="bollard",
                            issuer="bollard", options={"require": ["exp", "sub", "aud", "iss"]})
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"})


def system_prompt() -> str:
    now = datetime.now(timezone.utc)
    return (f"You are {AGENT_NAME}, a todo assistant. {INSTRUCTIONS}\nThe current date and time is "
            f"{now:%Y-%m-%dT%H:%M:%SZ} ({now:%A}). Due dates are RFC 3339 date-times (e.g. 2030-01-31T17:00:00Z).")


@app.post("/api/{user_id}/chat", response_model=ChatResponse)
async def chat(user_id: uuid.UUID, body: ChatRequest, me: Annotated[uuid.UUID, Depends(current_user)],
               session: Annotated[AsyncSession, Depends(get_session)]):
    if user_id != me:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this is not your assistant")
    history: list[dict] = []
    if body.conversation_id is not None:
        conv = (await session.execute(select(Conversation).where(
            Conversation.id == body.conversation_id, Conversation.user_id == me))).scalar_one_or_none()
        if conv is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conversation")
        rows = (await session.execute(select(Message).where(Message.conversation_id == conv.id)
                                      .order_by(Message.seq.desc()).limit(HISTORY))).scalars().all()
        history = [{"role": m.role, "content": m.content} for m in reversed(rows) if m.role != "tool"]
    else:
        conv = Conversation(user_id=me)
        session.add(conv)
        await session.flush()
    session.add(Message(conversation_id=conv.id, user_id=me, role="user", content=body.message))
    await session.commit()  # the user's message is stored before the model is called

    completion = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": system_prompt()}, *history,
                               {"role": "user", "content": body.message}],
        tools=TOOLS, tool_choice="auto", max_tokens=2000, temperature=0.7)
    answer = completion.choices[0].message
    if answer.tool_calls:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "this peer does not run tools")

    reply = Message(conversation_id=conv.id, user_id=me, role="assistant", content=answer.content or "")
    session.add(reply)
    await session.execute(update(Conversation).where(Conversation.id == conv.id).values(updated_at=func.now()))
    await session.commit()
    return ChatResponse(conversation_id=conv.id, message_id=reply.id, response=reply.content, tool_calls=[])
