"""The local vault: one file encrypted with AES-256-GCM.

The 32-byte key lives in a separate key file of mode 0600. Every write takes an
exclusive lock, writes a temp file, fsyncs it and renames it over the vault, so
a crash leaves either the old or the new vault, never a torn one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vaultgate.errors import ConfigError, NotFoundError, VaultUnavailableError
from vaultgate.reference import Reference
from vaultgate.secret import Secret
from vaultgate.vaults.base import (
    FieldValues,
    Item,
    ItemExistsError,
    as_secrets,
    resolve_from_items,
)

MAGIC = b"VGV1"
NONCE_BYTES = 12
DEFAULT_NAME = "local"

Document = dict[str, Any]


class LocalVault:
    """A vault in one encrypted file; safe for several processes at once."""

    def __init__(self, path: Path, key_path: Path, name: str = DEFAULT_NAME) -> None:
        self.path = Path(path)
        self.key_path = Path(key_path)
        self.name = name
        self._cache: tuple[tuple[int, int, int], Document] | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> LocalVault:
        from vaultgate.paths import state_dir

        base = state_dir() / "vault"
        path = Path(settings.get("path") or base / "vault.enc").expanduser()
        key = Path(settings.get("key_file") or path.with_suffix(".key")).expanduser()
        return cls(path, key, settings.get("name", DEFAULT_NAME))

    # -- the Vault protocol -------------------------------------------------

    def get_item(self, title: str) -> Item:
        record = self._read().get(title.lower())
        if record is None:
            raise NotFoundError(
                f"item {title!r} not found in vault {self.name!r} "
                f"({self.path}); provision it first"
            )
        return self._to_item(record)

    def create_item(self, title: str, fields: FieldValues) -> Item:
        def change(doc: Document) -> Document:
            if title.lower() in doc:
                raise ItemExistsError(
                    f"item {title!r} already exists in vault {self.name!r}"
                )
            record = {"id": _new_id(), "title": title, "fields": _plain(fields)}
            doc[title.lower()] = record
            return record

        return self._to_item(self._write(change))

    def update_item(self, title: str, fields: FieldValues) -> Item:
        def change(doc: Document) -> Document:
            record = doc.get(title.lower())
            if record is None:
                raise NotFoundError(
                    f"item {title!r} not found in vault {self.name!r}"
                )
            record["fields"] = _plain(fields)
            return record

        return self._to_item(self._write(change))

    def delete_item(self, title: str) -> None:
        def change(doc: Document) -> Document:
            record = doc.pop(title.lower(), None)
            if record is None:
                raise NotFoundError(
                    f"item {title!r} not found in vault {self.name!r}"
                )
            return record

        self._write(change)

    def resolve(self, refs: Sequence[Reference]) -> list[Secret]:
        return resolve_from_items(self, refs)

    def titles(self) -> list[str]:
        return sorted(r["title"] for r in self._read().values())

    # -- storage ---------------------------------------------------------------

    def _to_item(self, record: Document) -> Item:
        return Item(self.name, record["title"], as_secrets(record["fields"]),
                    record["id"])

    def _read(self) -> Document:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._unavailable(exc) from exc
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        doc = self._decrypt(self._read_bytes())
        self._cache = (stamp, doc)
        return doc

    def _read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def _write(self, change: Callable[[Document], Document]) -> Document:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            doc = self._decrypt(self._read_bytes()) if self.path.exists() else {}
            record = change(doc)
            self._atomic_write(self._encrypt(doc))
            self._cache = None
            return record

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _atomic_write(self, data: bytes) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.urandom(6).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _encrypt(self, doc: Document) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_BYTES)  # the OS CSPRNG, as secrets uses
        plain = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        return MAGIC + nonce + AESGCM(self._key(create=True)).encrypt(
            nonce, plain, MAGIC)

    def _decrypt(self, data: bytes) -> Document:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + NONCE_BYTES + 16:
            raise VaultUnavailableError(
                f"local vault {self.path} is not a vaultgate vault file or is "
                "truncated; restore it from a backup"
            )
        nonce = data[len(MAGIC):len(MAGIC) + NONCE_BYTES]
        try:
            plain = AESGCM(self._key(create=False)).decrypt(
                nonce, data[len(MAGIC) + NONCE_BYTES:], MAGIC)
        except InvalidTag as exc:
            raise VaultUnavailableError(
                f"local vault {self.path} cannot be decrypted with key file "
                f"{self.key_path}: wrong key or a modified file"
            ) from exc
        doc: Document = json.loads(plain)
        return doc

    def _key(self, *, create: bool) -> bytes:
        try:
            fd = os.open(self.key_path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if not create:
                raise VaultUnavailableError(
                    f"key file {self.key_path} of local vault {self.path} is "
                    "missing; restore it, the vault cannot be read without it"
                ) from None
            return self._create_key()
        except OSError as exc:
            raise self._key_unavailable(exc) from exc
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    f"key file {self.key_path} is readable by other users "
                    f"(mode {stat.S_IMODE(mode):o}); run chmod 600 on it"
                )
            key = handle.read()
        if len(key) != 32:
            raise VaultUnavailableError(
                f"key file {self.key_path} does not hold a 32-byte key"
            )
        return key

    def _create_key(self) -> bytes:
        if self.path.exists():
            raise VaultUnavailableError(
                f"key file {self.key_path} of local vault {self.path} is "
                "missing; restore it, the vault cannot be read without it"
            )
        key = os.urandom(32)
        self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._key(create=False)
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        return key

    def _key_unavailable(self, exc: OSError) -> VaultUnavailableError:
        if exc.errno == errno.ELOOP:
            # Not followed: a link could lead to a key someone else controls.
            return VaultUnavailableError(
                f"key file {self.key_path} of local vault {self.path} is a "
                "symbolic link, which vaultgate does not follow; move the real "
                "key file to that path, or set key_file to its real path"
            )
        return VaultUnavailableError(
            f"key file {self.key_path} of local vault {self.path} cannot be read "
            f"({exc.strerror}); check that you may read it"
        )

    def _unavailable(self, exc: OSError) -> VaultUnavailableError:
        return VaultUnavailableError(
            f"local vault {self.path} cannot be read ({exc.strerror}); "
            "check that the file exists and that you may read it"
        )


def _plain(fields: FieldValues) -> dict[str, str]:
    return {k: v.reveal() if isinstance(v, Secret) else str(v)
            for k, v in fields.items()}


def _new_id() -> str:
    # 26 lowercase base32 characters, the shape of a 1Password ID.
    import base64

    return base64.b32encode(os.urandom(16)).decode()[:26].lower()
