"""A real IMAP server for the inbox tests: Debian's dovecot, started with a config of ours.

`apt-get install dovecot-imapd` (.ci/run installs it); the tests skip without it.
It listens on 127.0.0.1 on a free port, plain IMAP (INBOX_USE_SSL=false), with
one user whose mail is a Maildir in a temporary folder. Given a certificate, it
takes a login only in TLS: after STARTTLS on that port, or from the start on a
second one (`tls_port`). Run as root, dovecot gives the mail processes a user of
their own (nobody): it refuses root's.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
USERNAME = "news@mailer.example"
PASSWORD = "imap-test-password"  # noqa: S105 - the test server's only user
START_SECONDS = 20
PLAIN = "ssl = no\ndisable_plaintext_auth = no"
TLS_ONLY = "ssl = required\nssl_cert = <{cert}\nssl_key = <{key}\ndisable_plaintext_auth = yes"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
{ssl}
auth_mechanisms = plain
auth_failure_delay = 0
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home
}}
mail_location = maildir:{root}/Maildir
service imap-login {{
  inet_listener imap {{
    address = {addresses}
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def missing() -> str | None:
    """Why dovecot cannot run here, or None."""
    if not Path(DOVECOT).exists():
        return "needs Debian's dovecot (apt-get install dovecot-imapd); .ci/run installs it"
    for user in ("dovecot", "dovenull"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"dovecot's user {user} is missing (reinstall dovecot-core)"
    return None


class Dovecot:
    def __init__(self, certificate: tuple[Path, Path] | None = None) -> None:
        """`certificate`: (cert.pem, key.pem) for TLS, and a login only in TLS."""
        self.root = Path(tempfile.mkdtemp(prefix="mailer-dovecot-"))
        self.root.chmod(0o755)  # the mail user (nobody, under root) reaches its Maildir
        self.port = free_port()
        self.certificate = certificate
        self.tls_port = free_port() if certificate else 0
        # dovecot counts a connection from its own address as safe and takes a login in
        # clear on it; to another loopback address the connection comes from 127.0.0.1.
        self.addresses = ["127.0.0.1", *(["127.0.0.2"] if certificate else [])]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        mail_user = pwd.getpwnam("nobody") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
        for folder in ("run", "state", "home", "Maildir"):
            (self.root / folder).mkdir()
        for folder in ("home", "Maildir"):
            os.chown(self.root / folder, mail_user.pw_uid, mail_user.pw_gid)
        (self.root / "users").write_text(f"{USERNAME}:{{PLAIN}}{PASSWORD}\n")
        config = self.root / "dovecot.conf"
        config.write_text(
            CONFIG.format(
                root=self.root,
                port=self.port,
                addresses=", ".join(self.addresses),
                tls_port=self.tls_port,
                ssl=TLS_ONLY.format(cert=self.certificate[0], key=self.certificate[1])
                if self.certificate
                else PLAIN,
                uid=mail_user.pw_uid,
                gid=mail_user.pw_gid,
            )
        )
        self.process = subprocess.Popen(  # noqa: S603 - the system's dovecot, our config
            [DOVECOT, "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot stopped: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen on {self.port} in {START_SECONDS}s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self) -> imaplib.IMAP4:
        if self.certificate:
            context = ssl.create_default_context(cafile=self.certificate[0])
            imap = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=context, timeout=10)
        else:
            imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(USERNAME, PASSWORD)
        return imap


class Folder:
    """One folder of the test user's mailbox, as a mail program would put emails in it."""

    def __init__(self, server: Dovecot, name: str) -> None:
        self.server = server
        self.name = name
        self.create()

    def _imap(self):
        return _Session(self.server)

    def create(self) -> None:
        with self._imap() as imap:
            assert imap.create(self.name)[0] == "OK"

    def recreate(self) -> None:
        """Delete the folder and make it anew: a new UIDVALIDITY, its UIDs from 1 again."""
        with self._imap() as imap:
            assert imap.delete(self.name)[0] == "OK"
            assert imap.create(self.name)[0] == "OK"

    def append(self, raw: bytes, flags: str = "") -> None:
        with self._imap() as imap:
            status, _ = imap.append(self.name, f"({flags})" if flags else None, None, raw)
            assert status == "OK"

    def uidvalidity(self) -> int:
        with self._imap() as imap:
            imap.select(self.name, readonly=True)
            return int(imap.response("UIDVALIDITY")[1][0])

    def flags(self) -> list[bytes]:
        """Each email's flags, in order: what a mail program shows as read or not."""
        with self._imap() as imap:
            imap.select(self.name, readonly=True)
            status, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            assert status == "OK"
            return [line.split(b"FLAGS (", 1)[1].split(b")", 1)[0] for line in data if line]

    def count(self) -> int:
        with self._imap() as imap:
            status, data = imap.select(self.name, readonly=True)
            assert status == "OK"
            return int(data[0])


class _Session:
    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def __enter__(self) -> imaplib.IMAP4:
        self.imap = self.server.connect()
        return self.imap

    def __exit__(self, *exc) -> None:
        self.imap.logout()
