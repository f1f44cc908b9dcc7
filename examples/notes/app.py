"""A small notes service: Starlette on uvicorn, psycopg, and nothing but
DATABASE_URL in its environment (an op:// reference resolved at launch).

    vaultgate run --env-file .env -- python app.py --port 8000
    curl -X POST localhost:8000/notes -d 'buy milk'
    curl localhost:8000/notes
"""

from __future__ import annotations

import argparse
import os

import psycopg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


def connect() -> psycopg.Connection:
    # The login role's search_path is its own schema: no schema name needed.
    return psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)


async def list_notes(request: Request) -> JSONResponse:
    with connect() as conn:
        rows = conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
        who = conn.execute("SELECT session_user, current_schema").fetchone()
    return JSONResponse({"role": who[0], "schema": who[1],
                         "notes": [{"id": i, "body": b} for i, b in rows]})


async def add_note(request: Request) -> JSONResponse:
    body = (await request.body()).decode("utf-8").strip()
    if not body:
        return JSONResponse({"error": "send the note as the request body"}, 400)
    with connect() as conn:
        row = conn.execute("INSERT INTO notes (body) VALUES (%s) RETURNING id",
                           (body,)).fetchone()
    return JSONResponse({"id": row[0], "body": body}, status_code=201)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with connect() as conn:  # fail at start, not at the first request
        conn.execute(SCHEMA)
    app = Starlette(routes=[Route("/notes", list_notes, methods=["GET"]),
                            Route("/notes", add_note, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
