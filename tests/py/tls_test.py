"""TLS through nats-py (ssl.SSLContext): pub/sub over TLS, mutual TLS with a client
certificate (refused without one), and handshake_first.

Usage: tls_test.py TLS_URL MTLS_URL FIRST_URL FIXTURES_DIR   (run by tests/tls.rs; exit 0 = pass)
TLS_URL: [tls] without verify; MTLS_URL: verify = true; FIRST_URL: handshake_first = true.
"""

import asyncio
import os
import ssl
import sys

import nats

STEP_TIMEOUT = 10.0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def context(fixtures, client_cert=False):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.path.join(fixtures, "ca.pem"))
    if client_cert:
        ctx.load_cert_chain(os.path.join(fixtures, "client-cert.pem"), os.path.join(fixtures, "client-key.pem"))
    return ctx


async def round_trip(nc, subject):
    sub = await nc.subscribe(subject)
    await nc.flush()
    big = os.urandom(300_000)  # many TLS records in one message
    await nc.publish(subject, b"hi")
    await nc.publish(subject, big)
    m1 = await sub.next_msg(timeout=STEP_TIMEOUT)
    m2 = await sub.next_msg(timeout=STEP_TIMEOUT)
    check(m1.data == b"hi", f"small: {m1.data[:20]!r}")
    check(m2.data == big, f"big: {len(m2.data)} bytes")


async def connect(url, **kw):
    return await asyncio.wait_for(
        nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, **kw), STEP_TIMEOUT
    )


async def main(tls_url, mtls_url, first_url, fixtures):
    nc = await connect(tls_url, tls=context(fixtures), tls_hostname="localhost")
    check(nc._server_info.get("tls_required") is True, f"INFO: {nc._server_info}")
    await round_trip(nc, "tls.py")
    await nc.close()

    nc = await connect(mtls_url, tls=context(fixtures, client_cert=True), tls_hostname="localhost")
    check(nc._server_info.get("tls_verify") is True, f"INFO: {nc._server_info}")
    await round_trip(nc, "mtls.py")
    await nc.close()

    try:
        nc = await connect(mtls_url, tls=context(fixtures), tls_hostname="localhost")
        # The server refuses during (TLS 1.2) or right after (TLS 1.3) the handshake.
        await asyncio.wait_for(nc.flush(), STEP_TIMEOUT)
        await nc.close()
        raise AssertionError("mTLS server accepted a client without a certificate")
    except AssertionError:
        raise
    except Exception:
        pass

    nc = await connect(first_url, tls=context(fixtures), tls_hostname="localhost", tls_handshake_first=True)
    await round_trip(nc, "first.py")
    await nc.close()
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
