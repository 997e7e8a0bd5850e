import multiprocessing
import os
import socket
import subprocess
import sys
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


@pytest.mark.parametrize("lookup, argument", [
    ("getaddrinfo", ("example.org", 443)), ("gethostbyname", ("example.org",)),
    ("gethostbyname_ex", ("example.org",)), ("gethostbyaddr", ("93.184.216.34",)),
    ("getnameinfo", (("93.184.216.34", 80), 0)),
])
def test_guard_refuses_name_lookups_of_other_hosts(lookup, argument):
    with pytest.raises(NetworkBlockedError, match="blocked"):
        getattr(socket, lookup)(*argument)


def test_guard_allows_local_lookups():
    assert socket.getaddrinfo("localhost", 80, proto=socket.IPPROTO_TCP)
    assert socket.getaddrinfo("127.0.0.1", 80, proto=socket.IPPROTO_TCP)[0][4][:2] == ("127.0.0.1", 80)
    assert socket.getaddrinfo(None, 0, proto=socket.IPPROTO_TCP)  # the wildcard address, for binding


def test_guard_refuses_udp_to_other_hosts_and_allows_loopback():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        with pytest.raises(NetworkBlockedError):
            sender.sendto(b"query", ("8.8.8.8", 53))
        with pytest.raises(NetworkBlockedError):
            sender.sendto(b"query", 0, ("8.8.8.8", 53))
        with pytest.raises(NetworkBlockedError):
            sender.sendmsg([b"query"], [], 0, ("8.8.8.8", 53))
        with pytest.raises(NetworkBlockedError):
            sender.connect(("8.8.8.8", 53))
        sender.sendto(b"ok", receiver.getsockname())
        sender.sendmsg([b"ok2"], [], 0, receiver.getsockname())
    assert receiver.recv(10) == b"ok" and receiver.recv(10) == b"ok2"
    receiver.close()


def _connect_elsewhere(queue):
    import companion  # noqa: F401  (as companion.scale's workers do when they unpickle their target)
    from companion.offline import NetworkBlockedError

    try:
        socket.create_connection(("93.184.216.34", 80), timeout=1)
        queue.put("connected")
    except NetworkBlockedError:
        queue.put("blocked")
    except OSError as exc:  # pragma: no cover - what an unguarded process sees here
        queue.put(f"unguarded: {exc}")


def test_guard_reaches_child_processes():
    """The data-parallel workers are spawned processes: the switch in the environment guards them."""
    assert os.environ["COMPANION_BLOCK_NETWORK"] == "1"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_connect_elsewhere, args=(queue,))
    child.start()
    child.join(timeout=120)
    assert queue.get(timeout=5) == "blocked"
    code = ("import companion, socket\n"
            "try:\n    socket.getaddrinfo('example.org', 80)\nexcept companion.offline.NetworkBlockedError:\n"
            "    print('blocked')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "blocked"


def test_without_the_switch_a_process_is_not_guarded():
    code = "import companion, companion.offline as o; print(o.network_blocked())"
    env = {k: v for k, v in os.environ.items() if k != "COMPANION_BLOCK_NETWORK"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


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
