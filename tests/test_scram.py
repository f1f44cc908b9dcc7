"""SCRAM verifiers computed in Python log in like libpq's own."""

from __future__ import annotations

import base64

import psycopg
import pytest
from psycopg import sql

from tests.pg import PgServer
from vaultgate import scram
from vaultgate.secret import Secret, generate_password


def test_matches_libpq_for_the_same_salt(pg18: PgServer) -> None:
    password = generate_password()
    with pg18.connect() as conn:
        expected = conn.pgconn.encrypt_password(
            password.reveal_bytes(), b"someone", b"scram-sha-256").decode()
    salt = base64.b64decode(expected.split("$")[1].split(":")[1])
    assert scram.verifier(password, salt=salt) == expected


def test_a_role_with_the_verifier_logs_in_and_a_wrong_password_is_refused(
        pg18: PgServer) -> None:
    password = generate_password()
    role = "scram_probe"
    with pg18.connect() as conn:
        conn.autocommit = True
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(scram.verifier(password))))
    try:
        pg18.connect(user=role, secret=password).close()
        with pytest.raises(psycopg.OperationalError):
            pg18.connect(user=role, secret=generate_password()).close()
    finally:
        with pg18.connect() as conn:
            conn.autocommit = True
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_non_ascii_passwords_are_left_to_libpq() -> None:
    assert not scram.supports(Secret("pässwörd"))
    with pytest.raises(ValueError):
        scram.verifier(Secret("pässwörd"))
