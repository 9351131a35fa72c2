"""Secured services for the security tests: Elasticsearch with auth and HTTPS, Redis with a password and TLS.

The Elasticsearch node runs from a private copy of ``WIREWATCH_TEST_ES_HOME`` so the keystore, the
certificates, ``roles.yml`` and the file-realm users never touch the shared unpacked home that the
ordinary (security off) node uses.

What this build (the integ-test zip) can and cannot do:
- basic auth (``bootstrap.password`` for ``elastic``, file-realm users and roles) and TLS on HTTP work;
- API keys and native users do not: the security index cannot be created without the analysis module
  this build lacks, so API keys are tested against a local fake server instead;
- transport TLS may stay off: with ``discovery.type=single-node`` and loopback-only binding the
  "Transport SSL must be enabled" bootstrap check is only logged as a warning.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import ES_USER, ServiceUnavailable, _ensure_user, _java_home, free_port
from workers.services import wait_for_redis

# Index names the secured node's roles cover (the tests use the prefix "wwsec-stories").
INDEX_PATTERN = "wwsec-*"

# A least-privilege writer (what wirewatch needs to prepare, write and read its indices) and a
# read-only account for the search side. The built-in superuser is "elastic" (bootstrap password).
ROLES_YML = f"""
wirewatch_write:
  cluster: [ "monitor", "manage_index_templates" ]
  indices:
    - names: [ "{INDEX_PATTERN}" ]
      privileges: [ "all" ]
wirewatch_read:
  cluster: [ "monitor" ]
  indices:
    - names: [ "{INDEX_PATTERN}" ]
      privileges: [ "read", "view_index_metadata" ]
"""


def _run(cmd: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> None:
    result = subprocess.run(
        cmd, env=env, cwd=cwd, input=stdin, text=True, capture_output=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise ServiceUnavailable(
            f"{' '.join(cmd[:3])} failed ({result.returncode}): {result.stderr[-2000:] or result.stdout[-2000:]}"
        )


def _unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(into)


def https_health(url: str, ca_file: Path, user: str, password: str, timeout_s: float = 2.0) -> str | None:
    """The cluster status over HTTPS, verified against ``ca_file``, or None when not (yet) answering."""
    context = ssl.create_default_context(cafile=str(ca_file))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(f"{url}/_cluster/health", headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s, context=context) as resp:
            status: str = json.load(resp)["status"]
            return status
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None


@dataclass
class SecureElasticsearch:
    """One Elasticsearch node with security on: HTTPS with its own CA, basic auth, file-realm users."""

    url: str
    base: Path  # the private copy of the home and the data, logs and pid folders
    ca_certs: Path
    bootstrap_password: str
    passwords: dict[str, str] = field(default_factory=dict)  # file-realm user -> password

    @property
    def home(self) -> Path:
        return self.base / "es"

    @property
    def pidfile(self) -> Path:
        return self.base / "run" / "es.pid"

    @classmethod
    def start(cls, es_home: Path, heap: str = "512m", timeout_s: float = 120.0) -> SecureElasticsearch:
        if not (es_home / "bin" / "elasticsearch").exists():
            raise ServiceUnavailable(f"no Elasticsearch at {es_home} (scripts/test downloads it)")
        java = _java_home()
        as_root = os.geteuid() == 0
        if as_root:
            _ensure_user()
        # mkdtemp makes a 0700 folder: the unprivileged server user must be able to enter it.
        base = Path(tempfile.mkdtemp(prefix="ww-es-secure-"))
        os.chmod(base, 0o755)
        try:
            return cls._start_in(base, es_home, java, heap, timeout_s, as_root)
        except BaseException:
            cls._kill(base / "run" / "es.pid")
            shutil.rmtree(base, ignore_errors=True)
            raise

    @classmethod
    def _start_in(
        cls, base: Path, es_home: Path, java: str, heap: str, timeout_s: float, as_root: bool
    ) -> SecureElasticsearch:
        home = base / "es"
        shutil.copytree(es_home, home, symlinks=True)
        for sub in ("data", "logs", "run"):
            (base / sub).mkdir()
        config = home / "config"
        # Whatever the shared home carried (keystore, users, certificates) is not ours.
        for name in ("elasticsearch.keystore", "users", "users_roles"):
            (config / name).unlink(missing_ok=True)
        for name in ("ca", "http"):
            shutil.rmtree(config / name, ignore_errors=True)
        (config / "users").touch()
        (config / "users_roles").touch()
        (config / "roles.yml").write_text(ROLES_YML)

        bootstrap = secrets.token_hex(12)
        passwords = {"writer": secrets.token_hex(12), "reader": secrets.token_hex(12)}
        env = {**os.environ, "ES_JAVA_HOME": java, "ES_PATH_CONF": str(config)}  # for the CLI tools
        env.pop("ES_JAVA_OPTS", None)
        bin_dir = home / "bin"

        def keystore() -> None:
            _run([str(bin_dir / "elasticsearch-keystore"), "create"], env, home)
            _run(
                [str(bin_dir / "elasticsearch-keystore"), "add", "--stdin", "bootstrap.password"],
                env,
                home,
                stdin=bootstrap + "\n",
            )

        def certificates() -> None:
            certutil = str(bin_dir / "elasticsearch-certutil")
            _run([certutil, "ca", "--pem", "--silent", "--out", str(base / "ca.zip")], env, home)
            _unzip(base / "ca.zip", config)  # config/ca/ca.crt, config/ca/ca.key
            _run(
                [
                    certutil,
                    "cert",
                    "--pem",
                    "--silent",
                    "--name",
                    "http",
                    "--ca-cert",
                    str(config / "ca" / "ca.crt"),
                    "--ca-key",
                    str(config / "ca" / "ca.key"),
                    "--ip",
                    "127.0.0.1",
                    "--dns",
                    "localhost",
                    "--out",
                    str(base / "http.zip"),
                ],
                env,
                home,
            )
            _unzip(base / "http.zip", config)  # config/http/http.crt, config/http/http.key

        def users() -> None:
            roles = {"writer": "wirewatch_write", "reader": "wirewatch_read"}
            for user, password in passwords.items():
                _run(
                    [str(bin_dir / "elasticsearch-users"), "useradd", user, "-p", password, "-r", roles[user]],
                    env,
                    home,
                )

        # Each tool is a JVM start of about a second; the three chains touch different files.
        with ThreadPoolExecutor(max_workers=3) as pool:
            for job in [pool.submit(keystore), pool.submit(certificates), pool.submit(users)]:
                job.result()

        port, transport = free_port(), free_port()
        cmd = [
            str(bin_dir / "elasticsearch"),
            "-d",
            "-p",
            str(base / "run" / "es.pid"),
            "-Ediscovery.type=single-node",
            f"-Ehttp.port={port}",
            f"-Etransport.port={transport}",
            "-Ehttp.host=127.0.0.1",
            "-Etransport.host=127.0.0.1",
            f"-Epath.data={base / 'data'}",
            f"-Epath.logs={base / 'logs'}",
            "-Ecluster.routing.allocation.disk.threshold_enabled=false",
            "-Expack.ml.enabled=false",
            "-Expack.security.enabled=true",
            "-Expack.security.http.ssl.enabled=true",
            # Relative to config/: the server refuses PEM files outside its config folder.
            "-Expack.security.http.ssl.key=http/http.key",
            "-Expack.security.http.ssl.certificate=http/http.crt",
            "-Expack.security.http.ssl.certificate_authorities=ca/ca.crt",
        ]
        opts = f"-Xms{heap} -Xmx{heap}"
        if as_root:
            # Elasticsearch refuses to run as root.
            subprocess.run(["chown", "-R", f"{ES_USER}:", str(base)], check=True)
            cmd = [
                "runuser", "-u", ES_USER, "--", "env",
                f"ES_JAVA_HOME={java}", f"ES_JAVA_OPTS={opts}", f"ES_PATH_CONF={config}",
                *cmd,
            ]  # fmt: skip
        run_env = {**os.environ, "ES_JAVA_HOME": java, "ES_JAVA_OPTS": opts, "ES_PATH_CONF": str(config)}
        started = subprocess.run(
            cmd, env=run_env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120
        )
        if started.returncode != 0:
            raise ServiceUnavailable(
                f"secured Elasticsearch refused to start: {started.stderr.decode(errors='replace')[-3000:]}"
                f"{cls._logs(base)}"
            )
        node = cls(f"https://127.0.0.1:{port}", base, config / "ca" / "ca.crt", bootstrap, passwords)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if https_health(node.url, node.ca_certs, "writer", passwords["writer"]) in ("green", "yellow"):
                return node
            time.sleep(0.5)
        raise ServiceUnavailable(f"secured Elasticsearch did not become healthy in {timeout_s}s:{cls._logs(base)}")

    @staticmethod
    def _logs(base: Path) -> str:
        return "".join(
            f"\n--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in (base / "logs").glob("*.log")
        )

    @staticmethod
    def _kill(pidfile: Path) -> None:
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 15)
            for _ in range(150):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, 9)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            pass

    def stop(self) -> None:
        self._kill(self.pidfile)
        shutil.rmtree(self.base, ignore_errors=True)


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise ServiceUnavailable(f"openssl {args[0]} failed: {result.stderr[-2000:]}")


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1/localhost signed by it (ca, cert, key)."""
    if shutil.which("openssl") is None:
        raise ServiceUnavailable("the openssl command is not installed")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=wirewatch test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


@dataclass
class SecureRedis:
    """redis-server with ``--requirepass`` on a plain port, and a TLS port when the build has TLS."""

    port: int
    password: str
    directory: Path
    process: subprocess.Popen[bytes]
    tls_port: int = 0  # 0: this redis-server was built without TLS
    ca_certs: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def url_without_password(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def tls_url(self) -> str:
        return f"rediss://:{self.password}@127.0.0.1:{self.tls_port}/0" if self.tls_port else ""

    @classmethod
    def start(cls) -> SecureRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("redis-server is not installed (apt-get install redis-server)")
        directory = Path(tempfile.mkdtemp(prefix="ww-redis-secure-"))
        password = secrets.token_hex(12)
        try:
            tls_files: tuple[Path, Path, Path] | None = make_tls_files(directory)
        except ServiceUnavailable:
            tls_files = None
        try:
            if tls_files is not None:
                try:
                    return cls._launch(binary, directory, password, tls_files)
                except ServiceUnavailable:
                    pass  # most likely a build without TLS ("Bad directive" for tls-port): go on without
            return cls._launch(binary, directory, password, None)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    @classmethod
    def _launch(
        cls, binary: str, directory: Path, password: str, tls_files: tuple[Path, Path, Path] | None
    ) -> SecureRedis:
        port = free_port()
        args = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log",
            "--requirepass", password,
        ]  # fmt: skip
        tls_port = 0
        if tls_files is not None:
            ca, cert, key = tls_files
            tls_port = free_port()
            args += [
                "--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no",
            ]  # fmt: skip
        with (directory / "stderr.txt").open("wb") as err:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        server = cls(port, password, directory, proc, tls_port, tls_files[0] if tls_files else None)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                wait_for_redis(server.url, timeout_s=0.2)
                return server
            except RuntimeError:
                pass
        server.stop(remove=False)
        why = (directory / "stderr.txt").read_text(errors="replace")[-1000:]
        raise ServiceUnavailable(f"redis-server did not start (exit {proc.returncode}): {why}")

    def stop(self, remove: bool = True) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)
