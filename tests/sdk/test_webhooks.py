"""Webhooks as an Alguna SDK user receives them.

Alguna tells its users to verify webhooks with the `svix` package; Abacus' deliveries must pass
that check byte for byte, and their bodies must parse with the SDK's `alguna.webhooks` models.

The Rust test `sdk_webhooks` captures real deliveries of every event type (and a test event sent
during a secret rotation) and names the file in ABACUS_WEBHOOK_CAPTURES; the live test below
receives a test event itself.
"""

import http.server
import json
import os
import threading
import time

import alguna.webhooks as models
import httpx
import pytest
from svix.webhooks import Webhook, WebhookVerificationError

# Event type -> SDK model of the whole body.
MODELS = {
    getattr(models, name).model_fields["type"].default: getattr(models, name)
    for name in models.__all__
}


def captures():
    path = os.environ.get("ABACUS_WEBHOOK_CAPTURES")
    if not path:
        pytest.skip("run by the Rust test sdk_webhooks")
    with open(path) as f:
        return json.load(f)


def test_every_sdk_model_has_a_delivery():
    types = {json.loads(c["body"])["type"] for c in captures()}
    assert set(MODELS) <= types, sorted(set(MODELS) - types)
    assert "webhook.test" in types


def test_deliveries_verify_with_svix():
    for c in captures():
        standard_only = {k: v for k, v in c["headers"].items() if not k.startswith("svix-")}
        for secret in c["secrets"]:
            # verify() raises on a bad signature (svix 2.9 returns nothing).
            Webhook(secret).verify(c["body"], c["headers"])
            Webhook(secret).verify(c["body"], standard_only)
        for secret in c["reject"]:
            with pytest.raises(WebhookVerificationError):
                Webhook(secret).verify(c["body"], c["headers"])


def test_tampered_deliveries_do_not_verify():
    c = captures()[0]
    secret = c["secrets"][0]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(c["body"].replace('"', "'", 1) + " ", c["headers"])
    headers = dict(c["headers"], **{"webhook-id": "msg_other", "svix-id": "msg_other"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(c["body"], headers)


def test_rotated_secret_signs_with_both_keys():
    rotated = [c for c in captures() if len(c["secrets"]) == 2]
    assert len(rotated) == 1
    assert len(rotated[0]["headers"]["webhook-signature"].split(" ")) == 2


def test_bodies_parse_with_the_sdk_models():
    for c in captures():
        body = json.loads(c["body"])
        assert list(body) == ["type", "timestamp", "data"]
        if body["type"] == "webhook.test":
            continue
        event = MODELS[body["type"]].model_validate(body)
        assert event.type == body["type"]
        assert event.timestamp.tzinfo is not None
        data = event.data
        # Every required field of the data model is present under its JSON name.
        for name, field in type(data).model_fields.items():
            if field.is_required():
                assert getattr(data, name) is not None, (body["type"], name)
        assert not (data.model_extra or {}), (body["type"], data.model_extra)
        if hasattr(data, "account_id"):
            assert data.account_id == "ywgWhtGp"


class _Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        length = int(self.headers["content-length"])
        body = self.rfile.read(length).decode()
        _Receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_live_test_event_to_a_python_receiver(base_url):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        auth = {"Authorization": f"Bearer {os.environ['ABACUS_API_KEY']}"}
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        r = httpx.post(f"{base_url}/webhook-endpoints", json={"url": url}, headers=auth)
        assert r.status_code == 201, r.text
        endpoint = r.json()
        r = httpx.post(f"{base_url}/webhook-endpoints/{endpoint['id']}/test", headers=auth)
        assert r.status_code == 202, r.text
        message_id = r.json()["id"]
        deadline = time.time() + 15
        while not _Receiver.received and time.time() < deadline:
            time.sleep(0.05)
        headers, body = _Receiver.received[0]
        Webhook(endpoint["secret"]).verify(body, headers)
        payload = json.loads(body)
        assert payload["type"] == "webhook.test"
        assert payload["data"]["endpointId"] == endpoint["id"]
        assert headers["webhook-id"] == message_id
    finally:
        server.shutdown()
