"""A throwaway PostgreSQL server for tests, started without systemd.

    with PostgresServer() as pg:          # needs root and Debian's `postgresql` package
        env = dict(os.environ, PGPASSWORD=pg.password)
        ... pg.url ...                    # postgresql://ROLE@127.0.0.1:PORT/DB, no password

`initdb` and `pg_ctl` come from /usr/lib/postgresql/<version>/bin and run as the
`postgres` system user; the data folder, the log and the server's own unix-socket folder
live in a temporary folder owned by that user. The server listens on 127.0.0.1 on a free
port; TCP logins need a password (scram-sha-256), so the role created for the test is
reachable only with it. The superuser is reached through the private socket only.
"""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_GLOB = "/usr/lib/postgresql/*/bin"
HOW_TO_ENABLE = ("install Debian's PostgreSQL server (`apt-get install postgresql`, as .ci/run does) "
                 "and run the tests as root")


def find_bin_dir():
    """The bin folder of the newest installed PostgreSQL server, or None."""
    found = [d for d in glob.glob(PG_GLOB) if os.access(os.path.join(d, "initdb"), os.X_OK)
             and os.access(os.path.join(d, "pg_ctl"), os.X_OK)]
    if not found:
        return None

    def version(d):
        v = Path(d).parent.name
        return tuple(int(p) for p in v.split(".") if p.isdigit())
    return max(found, key=version)


def unavailable_reason():
    """Why a server cannot be started here (None when it can)."""
    if find_bin_dir() is None:
        return f"no PostgreSQL server binaries ({PG_GLOB}/initdb, pg_ctl); to run this: {HOW_TO_ENABLE}"
    if os.geteuid() != 0:
        return f"starting PostgreSQL as the `postgres` user needs root; to run this: {HOW_TO_ENABLE}"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return f"no `postgres` system user; to run this: {HOW_TO_ENABLE}"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, role="grader", database="gradebook"):
        self.bin = find_bin_dir()
        self.role, self.database = role, database
        self.password = f"pw-{secrets.token_hex(16)}"
        self.base = self.port = None
        self.started = False

    # ------------------------------------------------------------------ helpers
    @property
    def url(self):
        """The URL of the test database: no password in it (pass PGPASSWORD)."""
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{self.database}"

    def _as_postgres(self, *cmd, check=True, timeout=120):
        user = pwd.getpwnam("postgres")
        proc = subprocess.run([os.path.join(self.bin, cmd[0]), *cmd[1:]], user=user.pw_uid, group=user.pw_gid,
                              extra_groups=[], cwd=self.base, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout,
                              env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.base)})
        if check and proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                               f"{self.log_tail()}")
        return proc

    def log_tail(self, n=3000):
        log = self.base / "server.log" if self.base else None
        return log.read_text(errors="replace")[-n:] if log and log.exists() else ""

    def psql(self, sql):
        """Run SQL as the superuser, through the server's private unix socket."""
        return self._as_postgres("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.base / "socket"),
                                 "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", sql).stdout

    # ------------------------------------------------------------------ life cycle
    def start(self):
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        user = pwd.getpwnam("postgres")
        # /tmp, not pytest's tmp_path: the postgres user must be able to reach the folder
        self.base = Path(tempfile.mkdtemp(prefix="course-pg-"))
        (self.base / "socket").mkdir()
        for p in (self.base, self.base / "socket"):
            os.chown(p, user.pw_uid, user.pw_gid)
            os.chmod(p, 0o700)
        self._as_postgres("initdb", "-D", str(self.base / "data"), "-U", "postgres", "-E", "UTF8",
                          "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        for attempt in range(3):                   # a free port can be taken before we bind it
            self.port = free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                    f"-c unix_socket_directories={self.base / 'socket'} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
            proc = self._as_postgres("pg_ctl", "-D", str(self.base / "data"), "-l", str(self.base / "server.log"),
                                     "-o", opts, "-w", "-t", "60", "start", check=False)
            if proc.returncode == 0:
                break
            if attempt == 2:
                raise RuntimeError(f"pg_ctl start failed:\n{proc.stdout}\n{proc.stderr}\n{self.log_tail()}")
        self.started = True
        self.psql(f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}'")
        self.psql(f"CREATE DATABASE {self.database} OWNER {self.role}")
        return self

    def stop(self):
        """Stop the server (fast, then immediate, then by its own pid) and remove its files."""
        try:
            if self.started:
                data = str(self.base / "data")
                for mode in ("fast", "immediate"):
                    try:
                        if self._as_postgres("pg_ctl", "-D", data, "-m", mode, "-w", "-t", "30", "stop",
                                             check=False).returncode == 0:
                            self.started = False
                            break
                    except subprocess.TimeoutExpired:
                        pass
                pidfile = self.base / "data" / "postmaster.pid"
                if self.started and pidfile.exists():
                    pid = int(pidfile.read_text().split()[0])
                    try:
                        os.kill(pid, 9)                # the postmaster this object started
                    except ProcessLookupError:
                        pass
                    self.started = False
        finally:
            if self.base:
                shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
