"""`python -m llama_cpp.server` (same arguments) with one change, for Bollard's tool schemas.

llama-cpp-python 0.3.36 turns a tool's JSON Schema into a llama.cpp grammar for the call's arguments,
and writes a string's maxLength N as N nested optional repetitions. add_task's and update_task's
`description` (maxLength 2000, as the REST API allows) goes past llama.cpp's bound on repetitions:
the grammar is refused ("number of rules that are going to be repeated multiplied by the new
repetition exceeds sane defaults") and the server process dies in the middle of the request. So here
every maxLength above MAX_LENGTH is lowered to it, for the grammar only: what the model may write is
shorter, the request and its tools are as Bollard sent them, and Bollard still checks the arguments
(a 2000-character description stays valid on every other path)."""
import json

from llama_cpp import llama_grammar
from llama_cpp.server.__main__ import main

MAX_LENGTH = 200  # the title's own bound; llama.cpp accepts it


def capped(schema):
    if isinstance(schema, list):
        return [capped(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: capped(v) for k, v in schema.items()}
    if isinstance(out.get("maxLength"), int) and out["maxLength"] > MAX_LENGTH:
        out["maxLength"] = MAX_LENGTH
    kinds = out.get("type")
    if isinstance(kinds, list) and "format" in out:
        # {"type": ["string", "null"], "format": "date-time"} the same as anyOf: the converter drops the
        # format of a type list (any string, so the model wrote "Tue Dec 18th" for due_at) but keeps
        # it in an anyOf branch (llama.cpp's date-time rule)
        branch = {k: v for k, v in out.items() if k not in ("type", "description")}
        rest = {k: v for k, v in out.items() if k in ("description",)}
        out = dict(rest, anyOf=[dict(branch, type=t) if t == "string" else {"type": t} for t in kinds])
    return out


_to_gbnf = llama_grammar.json_schema_to_gbnf


def json_schema_to_gbnf(schema, prop_order=None):
    return _to_gbnf(json.dumps(capped(json.loads(schema))), prop_order)


llama_grammar.json_schema_to_gbnf = json_schema_to_gbnf

if __name__ == "__main__":
    main()
