#!/usr/bin/env python3
"""Writes fuzz/seeds/sink/: webhook deliveries as they go on the wire, each
signed by its scheme's published algorithm (the Python standard library
only, as tests/fixtures/signing/verify.py checks them), after the control
line fuzz/fuzz_targets/sink.rs reads. Run it from anywhere; it replaces
the folder's files.
"""

import base64
import hashlib
import hmac
import os
import shutil

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sink")
TS = 1700000000
SECRETS = {
    "openverse": "ov-secret",
    "github": "gh-secret",
    "stripe": "whsec_stripe-secret",
    "standard-webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "slack": "slack-secret",
    "custom": "custom-secret",
}


def mac(key, data, algo=hashlib.sha256):
    return hmac.new(key, data, algo).digest()


def signed(scheme, method, path, query, body, ts=TS, msg_id="msg_1", secret=None):
    secret = secret or SECRETS[scheme]
    ts_s = str(ts).encode()
    if scheme == "openverse":
        resource = path.encode() + (b"?" + query.encode() if query else b"") + ts_s
        sig = base64.urlsafe_b64encode(mac(secret.encode(), resource)).rstrip(b"=")
        return [("x-ov-cf-mac", sig), ("x-ov-cf-timestamp", ts_s)]
    if scheme == "github":
        return [("x-hub-signature-256", b"sha256=" + mac(secret.encode(), body).hex().encode())]
    if scheme == "stripe":
        sig = mac(secret.encode(), ts_s + b"." + body).hex().encode()
        return [("stripe-signature", b"t=" + ts_s + b",v1=" + sig)]
    if scheme == "standard-webhooks":
        key = base64.b64decode(secret[len("whsec_"):])
        sig = base64.b64encode(mac(key, msg_id.encode() + b"." + ts_s + b"." + body))
        return [("webhook-id", msg_id.encode()), ("webhook-timestamp", ts_s), ("webhook-signature", b"v1," + sig)]
    if scheme == "slack":
        sig = mac(secret.encode(), b"v0:" + ts_s + b":" + body).hex().encode()
        return [("x-slack-signature", b"v0=" + sig), ("x-slack-request-timestamp", ts_s)]
    if scheme == "custom":
        q = ("?" + query) if query else ""
        message = (method + "\n" + path + q + "\n" + str(ts) + "\n" + msg_id + "\n").encode() + body
        sig = mac(secret.encode(), message).hex().encode()
        return [("x-signature", b"sha256=" + sig), ("x-timestamp", ts_s), ("x-request-id", msg_id.encode())]
    return []


def write(name, control, method, target, headers, body):
    lines = [control.encode(), (method + " " + target + " HTTP/1.1").encode()]
    lines += [k.encode() + b": " + v for k, v in headers]
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    body = b'{"id":"evt_1","type":"image.created","data":{"id":"img_42"}}'
    for scheme in SECRETS:
        path, query = "/hooks/images", "source=api"
        target = path + "?" + query
        hs = signed(scheme, "POST", path, query, body)
        json_ct = [("content-type", b"application/json")]
        # Verifies at its own time; sent to the real sink unsigned (401).
        write(f"{scheme}-valid", f"{scheme} ts={TS} id=msg_1", "POST", target, hs + json_ct, body)
        # Signed again for the real sink, now; id in the header or the body.
        write(f"{scheme}-to-sink-header-id", f"{scheme} ts={TS} id=msg_1 sign=0", "POST", path,
              [("webhook-id", b"msg_1")] + json_ct, body)
        write(f"{scheme}-to-sink-body-id", f"{scheme} id=msg_2 sign=-3 idsrc=body", "POST", "/fail/x", json_ct, body)
        # Stale, tampered, wrong key.
        write(f"{scheme}-stale", f"{scheme} ts={TS} now={TS + 301}", "POST", target, hs, body)
        write(f"{scheme}-tampered", f"{scheme} ts={TS}", "POST", target, hs, body.replace(b"42", b"43"))
        wrong = signed(scheme, "POST", path, query, body, secret=SECRETS[scheme] + "x" if scheme != "standard-webhooks" else "whsec_AAAA")
        write(f"{scheme}-wrong-key", f"{scheme} ts={TS}", "POST", target, wrong, body)
    # Several keys (rotation), custom variants, a body over the limit, routes.
    sw = "standard-webhooks"
    write("standard-webhooks-rotated", f"{sw} secret=whsec_AAAA secret={SECRETS[sw]} ts={TS}", "POST", "/h",
          signed(sw, "POST", "/h", "", b"{}"), b"{}")
    write("custom-base64url", "custom alg=sha512 enc=base64url message={method}%20{path}{query}%20{timestamp}.{body} "
          "header=X-Sig:t%3D{timestamp},s%3D{signature}", "PUT", "/c?q=1", [], b"x")
    write("custom-sha1-base64", "custom alg=sha1 enc=base64 message={id}:{body} header=X-Sig:{signature} header=X-Id:{id} id=abc",
          "POST", "/c", [], b"body")
    # Text after {signature} that the signature can hold: refused when built.
    write("custom-ambiguous-hex", "custom message={body} header=X-Sig:{signature}a", "POST", "/x", [], b"body")
    write("custom-ambiguous-base64url", "custom enc=base64url message={body}{timestamp} header=X-Sig:{signature}-{timestamp}",
          "POST", "/x", [], b"body")
    write("none-too-large", "none idsrc=body", "POST", "/big", [("content-type", b"application/json")],
          b'{"id":"' + b"x" * 600 + b'"}')
    write("none-no-id", "none", "POST", "/hooks", [], b"")
    write("none-route", 'none route={"cycle":[200,503],"latency":"1ms..2ms","retry_after":3}', "POST", "/fail/a",
          [("webhook-id", b"m")], b"")
    write("none-route-hang", 'none route={"fail_every":2,"hang":"5s"}', "POST", "/x", [("webhook-id", b"m")], b"")
    write("none-route-bad", 'none route={"status":500,"fail_status":200}', "POST", "/x", [("webhook-id", b"m")], b"")


if __name__ == "__main__":
    main()
