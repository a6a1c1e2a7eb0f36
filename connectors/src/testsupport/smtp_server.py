"""A real SMTP server for the e-mail channel's tests: aiosmtpd (PyPI, installed into the tools venv
by scripts/test) on two loopback listeners, one plain (offering STARTTLS unless told not to) and one
TLS from the first byte, both with the test's certificate.

Usage: smtp_server.py CONFIG.json, where the config names the ports (held by the test, bound here
with SO_REUSEADDR), the certificate and key, whether STARTTLS is offered, the one username and
password AUTH accepts (then AUTH is required, and only over TLS), AUTH mechanisms to leave out,
replies to give to RCPT TO for given addresses, and two files it appends JSON lines to: one per
accepted connection, one per received message. A message's line is written before its 250 is sent,
so a client that saw 250 finds the line on disk.
"""

import asyncio
import base64
import email
import email.policy
import json
import os
import ssl
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    sys.stderr.write(
        f"aiosmtpd is not installed for {sys.executable}: ./scripts/test installs it into "
        "target/test-tools/venv (or set CAP_TEST_SMTP_PYTHON to a python that has it)\n"
    )
    sys.exit(3)


def append_line(path, record):
    """One JSON line in one write to a file opened for appending: readers never see half a line
    followed by another record."""
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def parsed(data):
    """The message as Python's own e-mail parser reads it: headers with RFC 2047 words decoded,
    the body with its transfer encoding and charset decoded, and every defect it noticed."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    defects = [repr(d) for d in message.defects]
    headers = []
    for name, value in message.items():
        headers.append([name, str(value)])
        defects.extend(repr(d) for d in getattr(value, "defects", ()))
    try:
        body = message.get_content()
    except Exception as error:  # a body the parser cannot decode is what the test must see
        body = None
        defects.append(f"get_content: {error!r}")
    return {"headers": headers, "body": body, "defects": defects}


class Handler:
    def __init__(self, config, listener):
        self.config = config
        self.listener = listener

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.config["rcpt_replies"].get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content
        auth = session.auth_data if isinstance(session.auth_data, dict) else None
        record = {
            "listener": self.listener,
            "peer": f"{session.peer[0]}:{session.peer[1]}",
            "secure": server.transport.get_extra_info("ssl_object") is not None,
            "auth": auth,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data_base64": base64.b64encode(data).decode(),
            "parsed": parsed(data),
        }
        append_line(self.config["messages"], record)
        return "250 2.0.0 accepted"


def authenticator(config):
    expected = config["auth"]
    username = expected["username"].encode()
    password = expected["password"].encode()

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username
            and auth_data.password == password
        )
        if not ok:
            # handled=False: aiosmtpd answers 535 itself.
            return AuthResult(success=False, handled=False)
        return AuthResult(
            success=True, auth_data={"mechanism": mechanism, "login": auth_data.login.decode()}
        )

    return check


async def serve(config):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config["cert"], config["key"])
    loop = asyncio.get_running_loop()
    auth = config["auth"]

    def factory(listener):
        implicit = listener == "tls"

        def make():
            append_line(config["connections"], {"listener": listener})
            return SMTP(
                Handler(config, listener),
                hostname="smtp.test",
                tls_context=context if config["starttls"] and not implicit else None,
                auth_required=auth is not None,
                # aiosmtpd knows TLS only as STARTTLS: on the implicit-TLS listener the connection
                # is TLS from the first byte, so AUTH must not wait for a STARTTLS that never comes.
                auth_require_tls=not implicit,
                authenticator=authenticator(config) if auth is not None else None,
                auth_exclude_mechanism=config["auth_exclude"],
                loop=loop,
            )

        return make

    plain = await loop.create_server(
        factory("starttls"), "127.0.0.1", config["starttls_port"], reuse_address=True
    )
    tls = await loop.create_server(
        factory("tls"), "127.0.0.1", config["tls_port"], ssl=context, reuse_address=True
    )
    print("listening", flush=True)
    async with plain, tls:
        await asyncio.Event().wait()


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
