"""A throwaway PostgreSQL cluster for tests, the demo and benchmarks.

The cluster lives in a temporary folder, listens on 127.0.0.1 on a free port,
trusts local connections and is deleted on :meth:`ThrowawayPostgres.stop`.
When the current user is root, the server runs as the ``postgres`` user,
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from groupsync.errors import PermanentError

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under "
    "/usr/lib/postgresql/*/bin. Install them (Debian: apt-get install postgresql) "
    "or set GROUPSYNC_TEST_DATABASE_URL to a database groupsync may create databases in."
)


class PostgresNotAvailable(PermanentError):
    """No PostgreSQL server binaries are installed on this machine."""


def find_postgres_bin_dir() -> Path:
    """Return the folder holding ``initdb`` and ``pg_ctl``, newest version first."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent

    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
        reverse=True,
    )
    if not candidates:
        raise PostgresNotAvailable(INSTALL_HINT)
    return Path(candidates[0]).parent


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    """One temporary PostgreSQL cluster; ``url`` points at its ``postgres`` database."""

    port: int = 0
    data_dir: Path = field(default_factory=lambda: Path())
    bin_dir: Path = field(default_factory=lambda: Path())
    _root_dir: Path | None = None
    _run_as: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> ThrowawayPostgres:
        """Create the cluster with initdb and start the server; block until it accepts."""
        self.bin_dir = find_postgres_bin_dir()
        self._root_dir = Path(tempfile.mkdtemp(prefix="groupsync-pg-"))
        self.data_dir = self._root_dir / "data"
        self.port = find_free_port()
        self._run_as = "postgres" if os.geteuid() == 0 else None

        if self._run_as is not None:
            user = pwd.getpwnam(self._run_as)
            os.chown(self._root_dir, user.pw_uid, user.pw_gid)

        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        options = (
            f"-p {self.port} -k {self._root_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(self._root_dir / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        return self

    def restart(self) -> None:
        """Restart the server in place, keeping its data (for reconnect tests)."""
        assert self._root_dir is not None
        # Without -l the new server would inherit pg_ctl's output pipes, and reading them
        # to their end would wait for as long as the server runs.
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self._root_dir / "server.log"),
                "-m",
                "fast",
                "-w",
                "restart",
            ]
        )

    def stop(self) -> None:
        """Stop the server and delete the cluster's folder."""
        if self._root_dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                check=False,
            )
        shutil.rmtree(self._root_dir, ignore_errors=True)
        self._root_dir = None

    def _run(self, command: list[str], *, check: bool = True) -> None:
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise PermanentError(
                f"command {' '.join(command)!r} failed with exit code {result.returncode}: "
                f"{result.stderr.strip()[-2000:]}"
            )

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
