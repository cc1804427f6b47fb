"""The web processes of `zhisuan serve --workers N`, each accepting on a socket of its own.

uvicorn's ``--workers`` gives every process one shared listening socket: the process that wakes first
accepts, so a burst of keep-alive connections (16 clients opening at once) can land mostly on one
process, whose queue then sets the tail latency while the other idles. Here each process gets its own
socket bound with ``SO_REUSEPORT`` to the same address, and the kernel spreads new connections over
them. uvicorn's supervisor still runs the processes (health checks, restarting one that dies, signals).
"""

from __future__ import annotations

import socket

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from zhisuan.core.errors import ConflictError


def bind_reuseport(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to one address with ``SO_REUSEPORT``; refused (as a plain bind would be)
    when something already listens there, so that a second server on the port is an error, not a
    silent share of its connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:  # a plain bind fails where anything listens
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConflictError(f"cannot listen on {host}:{port}: {exc.strerror}", field="port") from exc
    if not hasattr(socket, "SO_REUSEPORT"):  # not on every platform: one socket shared, as uvicorn does
        return [_bound(family, host, port, reuseport=False)] * count
    return [_bound(family, host, port, reuseport=True) for _ in range(count)]


def _bound(family: socket.AddressFamily, host: str, port: int, *, reuseport: bool) -> socket.socket:
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class SpreadProcesses(Multiprocess):
    """uvicorn's supervisor, with process ``i`` (and its replacement) serving socket ``i``."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self.own = sockets

    def _process(self, idx: int) -> Process:
        return Process(self.config, [self.own[idx]])

    def init_processes(self) -> None:
        for idx in range(self.processes_num):
            process = self._process(idx)
            process.start()
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        """As uvicorn's: a hung or dead process is replaced (on its own socket); one that failed before
        serving stops the server, as it would fail the same way again."""
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            self.processes[idx] = self._process(idx)
            self.processes[idx].start()

    def restart_all(self) -> None:  # SIGHUP: replace each process on its own socket
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(idx)
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[idx] = new


def run(app: str, host: str, port: int, sockets: list[socket.socket]) -> None:
    """Serve the app factory ``app`` from one process per socket (from :func:`bind_reuseport`)."""
    config = Config(app, factory=True, host=host, port=port, workers=len(sockets), log_level="warning")
    try:
        SpreadProcesses(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()
