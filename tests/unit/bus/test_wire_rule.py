"""Only the wire layer (`livenode.bus.wire`) drives ZeroMQ sockets.

Issue 19 put the socket loop, written six times before, in one place. This scan keeps
it there: outside the wire package no module of ``src/livenode`` may

- call ``recv``/``send`` (or ``recv_multipart``, ``send_multipart``, ``recv_string``,
  ...) on a ZeroMQ socket: a name bound to ``<context>.socket(...)``, ``zmq.Socket``
  or a parameter or attribute annotated as one, and whatever is assigned from such a
  name; any call passing ``zmq.NOBLOCK``/``zmq.DONTWAIT``; any ``*_multipart``,
  ``*_string``, ``*_json``, ``*_pyobj`` or ``*_serialized`` send or receive;
- ask a socket for its file descriptor (``getsockopt(zmq.FD)``) or register a file
  descriptor with the event loop (``add_reader``/``add_writer``).

Exempt, by path: `bench/floor.py` measures raw pyzmq on purpose (the floor the node
is compared with), and the supervisor watches a service's output pipe
(`supervisor/services.py`) and a child's pidfd (`supervisor/supervisor.py`) with
``add_reader``: file descriptors, not ZeroMQ sockets (their ``send``/``recv`` calls
are still checked).
"""

from __future__ import annotations

import ast
from pathlib import Path

import livenode

SRC = Path(livenode.__file__).parent
WIRE = SRC / "bus" / "wire"
# Raw pyzmq on purpose: the floor the node's hops are measured against.
EXEMPT = {SRC / "bench" / "floor.py"}
# add_reader on a pipe (a service's output) and on a pidfd (a worker's exit).
FD_READERS = {SRC / "supervisor" / "services.py", SRC / "supervisor" / "supervisor.py"}

_IO = {"send", "recv"}
_ZMQ_ONLY_SUFFIXES = ("_multipart", "_string", "_json", "_pyobj", "_serialized")
_NONBLOCKING = {"NOBLOCK", "DONTWAIT"}


Key = tuple[int, str]  # (scope, name): a local name in its function, an attribute anywhere
_ANY_SCOPE = 0


def _enclosing_scopes(tree: ast.AST) -> dict[int, int]:
    """id(node) -> id of the function that encloses it (`_ANY_SCOPE` at module level)."""
    scopes: dict[int, int] = {}

    def visit(node: ast.AST, scope: int) -> None:
        scopes[id(node)] = scope
        inner = id(node) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else scope
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, _ANY_SCOPE)
    return scopes


def _key(node: ast.AST, scopes: dict[int, int]) -> Key | None:
    """How a value is reached: a local ``sock`` in its function, ``self._sock`` anywhere."""
    if isinstance(node, ast.Name):
        return (scopes[id(node)], node.id)
    if isinstance(node, ast.Attribute):
        return (_ANY_SCOPE, node.attr)
    return None


def _is_socket_annotation(node: ast.AST | None) -> bool:
    return node is not None and "Socket" in ast.unparse(node) and "zmq" in ast.unparse(node)


def _makes_socket(value: ast.AST) -> bool:
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Attribute) and func.attr == "socket":
        return True  # <context>.socket(zmq.X)
    return ast.unparse(func) in ("zmq.Socket", "Socket")


def _socket_keys(tree: ast.AST, scopes: dict[int, int]) -> set[Key]:
    """Local names (per function) and attribute names that hold a ZeroMQ socket."""
    keys: set[Key] = set()
    pairs: list[tuple[ast.AST, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and _is_socket_annotation(node.annotation):
            keys.add((scopes[id(node)], node.arg))
        elif isinstance(node, ast.AnnAssign) and _is_socket_annotation(node.annotation):
            key = _key(node.target, scopes)
            if key:
                keys.add(key)
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            targets = [node.target]
        for target in targets:
            value = node.value  # type: ignore[attr-defined]
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                pairs.extend(zip(target.elts, value.elts, strict=False))
            else:
                pairs.append((target, value))
        if isinstance(node, ast.For | ast.comprehension):
            for elt in getattr(node.iter, "elts", []):
                pairs.append((node.target, elt))
    changed = True
    while changed:  # to a fixpoint: `sock = self._sock` after `self._sock = ctx.socket()`
        changed = False
        for target, value in pairs:
            key = _key(target, scopes)
            if key is None or key in keys:
                continue
            if _makes_socket(value) or (
                not isinstance(value, ast.Call) and _key(value, scopes) in keys
            ):
                keys.add(key)
                changed = True
    return keys


def violations(source: str, *, fd_readers_allowed: bool = False) -> list[str]:
    """What in `source` drives a ZeroMQ socket outside the wire layer."""
    tree = ast.parse(source)
    scopes = _enclosing_scopes(tree)
    sockets = _socket_keys(tree, scopes)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        receiver = _key(node.func.value, scopes)
        where = f"line {node.lineno}: {ast.unparse(node)[:80]}"
        flags = {a.attr for a in ast.walk(node) if isinstance(a, ast.Attribute)
                 and isinstance(a.value, ast.Name) and a.value.id == "zmq"}
        if method in ("add_reader", "add_writer"):
            if not fd_readers_allowed:
                found.append(f"{where} (registers a file descriptor with the loop)")
        elif method == "getsockopt" and "FD" in flags:
            found.append(f"{where} (a ZeroMQ socket's file descriptor)")
        elif method.startswith(("send", "recv")) and method.endswith(_ZMQ_ONLY_SUFFIXES):
            found.append(f"{where} (ZeroMQ I/O)")
        elif method in _IO and (flags & _NONBLOCKING or receiver in sockets):
            found.append(f"{where} (ZeroMQ I/O on a socket)")
    return found


def test_no_module_outside_the_wire_layer_drives_a_zeromq_socket() -> None:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        if path.is_relative_to(WIRE) or path in EXEMPT:
            continue
        bad = violations(path.read_text(), fd_readers_allowed=path in FD_READERS)
        if bad:
            found[str(path.relative_to(SRC))] = bad
    assert found == {}, "use livenode.bus.wire (a Pump or a channel) instead:\n" + "\n".join(
        f"  {path}: {line}" for path, lines in found.items() for line in lines)


def test_the_exempt_paths_exist() -> None:
    # A moved file must move its exemption, not silently lose it.
    for path in EXEMPT | FD_READERS:
        assert path.is_file(), path
    assert (WIRE / "pump.py").is_file()


def test_the_scan_finds_each_kind_of_raw_socket_loop() -> None:
    raw_loop = """
import zmq
class Venue:
    def __init__(self, ctx, loop):
        self._dealer = ctx.socket(zmq.DEALER)
        loop.add_reader(self._dealer.getsockopt(zmq.FD), self._on_readable)
    def _on_readable(self):
        dealer = self._dealer
        while True:
            try:
                data = dealer.recv()
            except zmq.Again:
                return
    def send(self, data):
        self._dealer.send(data)
"""
    found = violations(raw_loop)
    assert len(found) == 4, found  # add_reader, FD, recv, send
    assert len(violations(raw_loop, fd_readers_allowed=True)) == 3
    annotated = """
import zmq
def pump(sock: zmq.Socket[Any], frames):
    for frame in frames:
        sock.send(frame)
"""
    assert len(violations(annotated)) == 1
    flagged = """
def relay(a, b):
    b.send_multipart(a.recv_multipart())
    a.send(b"x", zmq.NOBLOCK)
    b.recv_string()
"""
    assert len(violations(flagged)) == 4
    # Not ZeroMQ: a channel's own send/recv, a Pipe, a queue; a name that holds a
    # socket in one function and a channel in another.
    fine = """
def open_(self, ctx):
    dealer = ctx.socket(zmq.DEALER)
    self._dealer = RequestChannel(dealer, loop, self._on_frame)
def submit(self, data):
    dealer = self._dealer
    dealer.send(data)
import zmq
async def serve(control, conn, queue):
    control.send(msg, to=peer)
    peer, msg = await control.recv()
    conn.recv()
    queue.put_nowait(1)
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    control = ControlSocket(dealer, loop)
"""
    assert violations(fine) == []


def test_no_bus_module_is_over_600_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in sorted((SRC / "bus").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}
