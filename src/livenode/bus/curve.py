"""CURVE keys of the TCP bus: generate, load, and apply them to ZeroMQ sockets.

Over TCP the bus is reachable by anything that can reach the port, so every TCP
bus socket uses ZeroMQ CURVE (encryption plus authentication) and every binding
process runs a ZAP handler that lets in only the node's own client key(s).

A node's key directory (made by `generate_keys`, i.e. ``livenode keys generate``):

    DIR/                          0700
      server.key                  the server's public key (every publisher binds with it)
      server.key_secret           0600: the server's secret key
      client.key                  the client's public key (every subscriber connects with it)
      client.key_secret           0600: the client's secret key
      authorized_clients/         0700: public keys (``*.key``) allowed to connect
        client.key

The files are pyzmq's certificate format (`zmq.auth.create_certificates`). Another
client may be let in by copying its public ``.key`` file into
``authorized_clients/``; it is read when a worker starts.

This module takes paths and bytes only: it knows nothing of the node's config.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

SERVER = "server"
CLIENT = "client"
AUTHORIZED_DIR = "authorized_clients"
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
# Any domain: the bus sockets set none, and there is one policy for all of them.
ZAP_DOMAIN = "*"


class CurveKeyError(ValueError):
    """Keys that cannot be generated or used, saying which file and why."""


@dataclass(frozen=True)
class CurveKeys:
    """The node's two key pairs (z85 bytes) and its directory of allowed clients."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes
    authorized_dir: Path


def key_paths(directory: Path) -> list[Path]:
    """Every file `generate_keys` writes in `directory`, in the order it writes them."""
    return [
        directory / f"{SERVER}{PUBLIC_SUFFIX}",
        directory / f"{SERVER}{SECRET_SUFFIX}",
        directory / f"{CLIENT}{PUBLIC_SUFFIX}",
        directory / f"{CLIENT}{SECRET_SUFFIX}",
        directory / AUTHORIZED_DIR / f"{CLIENT}{PUBLIC_SUFFIX}",
    ]


def generate_keys(directory: str | Path, *, force: bool = False) -> list[Path]:
    """Write a server and a client key pair into `directory`; return the files written.

    The directory (and ``authorized_clients/``) is made mode 0700 and the secret
    files 0600. Existing keys are never replaced unless `force`: a replaced key
    locks out every process still using the old one.
    """
    directory = Path(directory)
    paths = key_paths(directory)
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise CurveKeyError(f"keys exist already ({names}); pass --force to replace them")
    authorized = directory / AUTHORIZED_DIR
    try:
        authorized.mkdir(parents=True, exist_ok=True)
        # chmod after mkdir: mkdir's mode is filtered by the umask. The secret files
        # below are briefly umask-mode, but only inside this closed directory.
        for folder in (directory, authorized):
            folder.chmod(0o700)
        for name in (SERVER, CLIENT):
            _public, secret = zmq.auth.create_certificates(directory, name)
            Path(secret).chmod(0o600)
        shutil.copyfile(directory / f"{CLIENT}{PUBLIC_SUFFIX}", paths[-1])
    except OSError as exc:
        raise CurveKeyError(f"cannot write keys in {directory}: {exc.strerror or exc}") from None
    return paths


def _read_pair(directory: Path, name: str) -> tuple[bytes, bytes]:
    path = directory / f"{name}{SECRET_SUFFIX}"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CurveKeyError(
            f"{path} not found (make the keys with `livenode keys generate {directory}`)"
        ) from None
    except OSError as exc:
        raise CurveKeyError(f"cannot read {path}: {exc.strerror or exc}") from None
    _check_owned(path)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # As ssh does: a secret others can read is no secret; refuse rather than use it.
        raise CurveKeyError(
            f"{path} is accessible by other users (mode {stat.S_IMODE(mode):04o}); "
            f"run chmod 600 {path}"
        )
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise CurveKeyError(f"cannot read {path}: {exc}") from None
    if not public or not secret:
        raise CurveKeyError(f"{path} holds no CURVE key pair")
    return public, secret


def load_keys(directory: str | Path) -> CurveKeys:
    """Read the node's keys from `directory`; `CurveKeyError` says what is missing.

    Like the run base, the key material must be this user's alone to change: the key
    directory, ``authorized_clients/`` and every key file in them owned by this user,
    none writable by group or others (a key planted in a world-writable
    ``authorized_clients/`` would let its owner read the whole bus).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CurveKeyError(f"{directory} is not a directory")
    _check_owned(directory)
    server_public, server_secret = _read_pair(directory, SERVER)
    client_public, client_secret = _read_pair(directory, CLIENT)
    for name in (SERVER, CLIENT):
        _check_owned(directory / f"{name}{PUBLIC_SUFFIX}")
    authorized = directory / AUTHORIZED_DIR
    if not authorized.is_dir():
        raise CurveKeyError(f"{authorized} is not a directory")
    _check_owned(authorized)
    keys = sorted(authorized.glob(f"*{PUBLIC_SUFFIX}"))
    if not keys:
        raise CurveKeyError(
            f"{authorized} holds no public key (*{PUBLIC_SUFFIX}): no client could connect"
        )
    for key in keys:
        _check_owned(key)
    return CurveKeys(server_public, server_secret, client_public, client_secret, authorized)


def _check_owned(path: Path) -> None:
    """Refuse key material another user owns or may change (see `load_keys`)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise CurveKeyError(f"{path} not found") from None
    except OSError as exc:
        raise CurveKeyError(f"cannot read {path}: {exc.strerror or exc}") from None
    uid = os.getuid()
    if stat.S_ISLNK(info.st_mode):
        raise CurveKeyError(f"{path} is a symbolic link; key material must be plain files")
    if info.st_uid != uid:
        raise CurveKeyError(
            f"{path} is owned by uid {info.st_uid}, not by this user (uid {uid}): refused; "
            f"only your own keys may let a client onto the bus"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        fix = "700" if stat.S_ISDIR(info.st_mode) else "644"
        raise CurveKeyError(
            f"{path} is writable by other users (mode {mode:04o}): refused; "
            f"run chmod {fix} {path}"
        )


def make_server(socket: zmq.Socket[Any], keys: CurveKeys) -> None:
    """Make `socket` a CURVE server (call before bind)."""
    socket.curve_secretkey = keys.server_secret
    socket.curve_publickey = keys.server_public
    socket.curve_server = True


def make_client(socket: zmq.Socket[Any], keys: CurveKeys) -> None:
    """Make `socket` a CURVE client of the node's server key (call before connect)."""
    socket.curve_secretkey = keys.client_secret
    socket.curve_publickey = keys.client_public
    socket.curve_serverkey = keys.server_public


def start_authenticator(context: zmq.Context[Any], authorized_dir: Path) -> ThreadAuthenticator:
    """Run a ZAP handler on `context` that lets in only the keys in `authorized_dir`.

    Without a ZAP handler a CURVE server accepts any client key pair (it only
    encrypts); with it, a client whose public key is not in the directory is
    refused during the handshake. There is one handler per context; stop it
    before terminating the context.
    """
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain=ZAP_DOMAIN, location=os.fspath(authorized_dir))
    return auth
