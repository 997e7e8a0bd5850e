import os
import socket
import threading

import pytest

import companion  # noqa: F401  (sets the offline variables)
from companion.offline import (
    HUB_SWITCH,
    HubDisabledError,
    NetworkBlockedError,
    load_hub_model,
)


def test_offline_variables_are_set_on_import():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"


@pytest.mark.parametrize("address", [("93.184.216.34", 80), ("10.0.0.1", 443), ("2001:db8::1", 443, 0, 0)])
def test_guard_refuses_non_loopback(address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkBlockedError, match="blocked"):
            sock.connect(address)
        with pytest.raises(NetworkBlockedError):
            sock.connect_ex(address)


def test_guard_allows_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]))
    thread.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"x")
    thread.join(timeout=5)
    assert accepted and accepted[0].recv(1) == b"x"
    accepted[0].close()
    server.close()


def test_hub_model_without_switch_names_offline_alternative(monkeypatch):
    monkeypatch.delenv(HUB_SWITCH, raising=False)
    with pytest.raises(HubDisabledError) as info:
        load_hub_model("bert-base-uncased", kind="masked-lm")
    message = str(info.value)
    assert "MiniLM" in message and HUB_SWITCH in message


def test_hub_model_with_switch_but_offline_fails_clearly(monkeypatch):
    monkeypatch.setenv(HUB_SWITCH, "1")
    with pytest.raises(HubDisabledError) as info:
        load_hub_model("gpt2", kind="causal-lm")
    assert "Gemma 3 270M" in str(info.value)


def test_hub_model_rejects_unknown_kind(monkeypatch):
    monkeypatch.setenv(HUB_SWITCH, "1")
    with pytest.raises(ValueError, match="valid kinds are: auto, causal-lm"):
        load_hub_model("gpt2", kind="decoder")
