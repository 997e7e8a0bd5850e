"""The offline default, the network guard, and the one switch that opts in to a model hub.

Importing :mod:`companion` calls :func:`enforce_offline_defaults`, which sets
``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` and ``HF_DATASETS_OFFLINE`` so that
transformers and sentence-transformers never try the network. A reader who is
online (on Binder, say) and wants a hub model such as ``bert-base-uncased``
sets the environment variable ``COMPANION_ALLOW_HUB=1`` *before* importing
the companion and calls :func:`load_hub_model`. Offline, or without the
switch, that call fails with a message naming the offline model to use instead.

:func:`block_network` makes this process refuse the network outside the
loopback range (127.0.0.0/8, ::1, ``localhost`` and the machine's own host name),
at the Python socket layer:

- TCP and UDP ``connect``/``connect_ex`` to another address;
- UDP datagrams sent to another address (``sendto``, ``sendmsg``);
- name lookups of any other host (``getaddrinfo``, ``gethostbyname``,
  ``gethostbyname_ex``, ``gethostbyaddr``, ``getnameinfo``), so not even a DNS
  query leaves the machine.

Each raises :class:`NetworkBlockedError`. It does not reach code that opens
sockets from C without Python's ``socket`` module (a compiled library's own
networking); the book's libraries do not. The test suite turns it on with the
environment variable ``COMPANION_BLOCK_NETWORK=1``, which every process it
starts inherits: ``import companion`` then turns the guard on in that process
too (notebook kernels, the data-parallel workers of ``companion.scale``, a
command-line tool), so a chapter that tries the network fails its test
instead of hanging.

Explained in the preface, "Working offline" (``book/preface.md``).

Examples
--------
>>> import os
>>> from companion.offline import hub_enabled
>>> os.environ.get("HF_HUB_OFFLINE")
'1'
>>> hub_enabled()
False
"""

from __future__ import annotations

import ipaddress
import os
import socket

__all__ = [
    "HUB_SWITCH",
    "OFFLINE_ALTERNATIVES",
    "HubDisabledError",
    "NetworkBlockedError",
    "block_network",
    "block_network_if_asked",
    "network_blocked",
    "enforce_offline_defaults",
    "hub_enabled",
    "load_hub_model",
]

HUB_SWITCH = "COMPANION_ALLOW_HUB"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")

#: Hub models readers often ask for, and what the book uses offline instead.
OFFLINE_ALTERNATIVES: dict[str, str] = {
    "bert-base-uncased": "the MiniLM-L6 encoder (companion.models.load_minilm) or the small BERT trained in 'The BERT family'",
    "roberta-base": "the MiniLM-L6 encoder (companion.models.load_minilm)",
    "xlnet-base-cased": "the MiniLM-L6 encoder (companion.models.load_minilm)",
    "distilbert-base-uncased": "the MiniLM-L6 encoder (companion.models.load_minilm)",
    "gpt2": "Gemma 3 270M (companion.gemma.load_gemma) or the tiny GPT trained in 'The GPT family'",
    "distilgpt2": "Gemma 3 270M (companion.gemma.load_gemma)",
    "t5-small": "the small T5 trained in 'The GPT family and T5'",
    "google/flan-t5-small": "Gemma 3 270M prompted few-shot (companion.gemma.load_gemma)",
    "sentence-transformers/all-MiniLM-L6-v2": "the same model, offline: companion.models.load_minilm",
}


class HubDisabledError(RuntimeError):
    """A hub model was requested on the offline default path."""


class NetworkBlockedError(ConnectionError):
    """A connection to a non-loopback address was attempted while the guard is on."""


def hub_enabled() -> bool:
    """True only when the reader has set ``COMPANION_ALLOW_HUB=1``."""
    return os.environ.get(HUB_SWITCH, "") == "1"


def enforce_offline_defaults() -> None:
    """Set the Hugging Face offline variables unless the reader opted in to the hub."""
    if hub_enabled():
        return
    for var in _OFFLINE_VARS:
        os.environ[var] = "1"


def _alternative(name: str) -> str:
    return OFFLINE_ALTERNATIVES.get(name, "one of the offline models listed on the 'Data and models' page")


def load_hub_model(name: str, kind: str = "auto"):
    """Load hub model ``name`` (opt-in, online only); return ``(tokenizer, model)``.

    ``kind`` is ``"auto"`` (``AutoModel``), ``"causal-lm"``, ``"masked-lm"`` or
    ``"seq2seq-lm"``. Without ``COMPANION_ALLOW_HUB=1``, or when the hub cannot
    be reached, raises :class:`HubDisabledError` naming the offline alternative.
    """
    import transformers

    classes = {
        "auto": transformers.AutoModel,
        "causal-lm": transformers.AutoModelForCausalLM,
        "masked-lm": transformers.AutoModelForMaskedLM,
        "seq2seq-lm": transformers.AutoModelForSeq2SeqLM,
    }
    if kind not in classes:
        raise ValueError(f"unknown kind {kind!r}; valid kinds are: {', '.join(classes)}")
    if not hub_enabled():
        raise HubDisabledError(
            f"{name!r} comes from a model hub, which the book does not use by default. "
            f"Offline, use {_alternative(name)}. If you are online, set {HUB_SWITCH}=1 "
            "in the environment before importing companion (e.g. "
            f"`%env {HUB_SWITCH}=1` as the first cell) and restart the kernel."
        )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name)
        model = classes[kind].from_pretrained(name)
    except (OSError, ValueError, NetworkBlockedError) as exc:
        raise HubDisabledError(
            f"could not download {name!r} from the hub ({exc.__class__.__name__}: {exc}). "
            f"Offline, use {_alternative(name)}."
        ) from exc
    return tokenizer, model


_real = {
    "connect": socket.socket.connect,
    "connect_ex": socket.socket.connect_ex,
    "sendto": socket.socket.sendto,
    "sendmsg": getattr(socket.socket, "sendmsg", None),
}
_real_lookups = {name: getattr(socket, name) for name in
                 ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo")}
BLOCK_SWITCH = "COMPANION_BLOCK_NETWORK"


def _is_local_host(host) -> bool:
    if host is None:  # getaddrinfo(None, port): the local machine's own addresses, for binding
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host)
    if host in ("localhost", "", socket.gethostname()) or host.endswith(".localhost"):
        return True  # the machine's own name resolves on the machine
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    return _is_local_host(host)


def _refuse(what) -> None:
    raise NetworkBlockedError(f"network access to {what!r} is blocked: the book runs offline")


def _is_unix(sock) -> bool:
    return sock.family == getattr(socket, "AF_UNIX", None)


def _guarded_connect(self, address):
    if not _is_unix(self) and not _is_local(address):
        _refuse(address)
    return _real["connect"](self, address)


def _guarded_connect_ex(self, address):
    if not _is_unix(self) and not _is_local(address):
        _refuse(address)
    return _real["connect_ex"](self, address)


def _guarded_sendto(self, data, *args):
    address = args[-1] if args else None  # sendto(data, address) or sendto(data, flags, address)
    if not _is_unix(self) and address is not None and not _is_local(address):
        _refuse(address)
    return _real["sendto"](self, data, *args)


def _guarded_sendmsg(self, buffers, *args):
    address = args[2] if len(args) > 2 else None  # sendmsg(buffers, ancdata, flags, address)
    if not _is_unix(self) and address is not None and not _is_local(address):
        _refuse(address)
    return _real["sendmsg"](self, buffers, *args)


def _guard_lookup(name):
    real = _real_lookups[name]

    def guarded(host, *args, **kwargs):
        target = host[0] if name == "getnameinfo" and isinstance(host, tuple) else host
        if not _is_local_host(target):
            _refuse(target)
        return real(host, *args, **kwargs)

    guarded.__name__ = name
    guarded.__doc__ = real.__doc__
    return guarded


_guarded_lookups = {name: _guard_lookup(name) for name in _real_lookups}


def network_blocked() -> bool:
    """True while :func:`block_network` is on in this process."""
    return socket.socket.connect is _guarded_connect


def block_network(enabled: bool = True) -> None:
    """Refuse (or, with ``enabled=False``, allow again) the network outside loopback in this process.

    >>> import socket
    >>> block_network(True)
    >>> socket.getaddrinfo("example.org", 443)
    Traceback (most recent call last):
    ...
    companion.offline.NetworkBlockedError: network access to 'example.org' is blocked: the book runs offline
    >>> socket.getaddrinfo("localhost", 8888)[0][4][1]
    8888
    """
    methods = {"connect": _guarded_connect, "connect_ex": _guarded_connect_ex,
               "sendto": _guarded_sendto, "sendmsg": _guarded_sendmsg}
    for name, guarded in methods.items():
        if _real[name] is not None:
            setattr(socket.socket, name, guarded if enabled else _real[name])
    for name in _real_lookups:
        setattr(socket, name, _guarded_lookups[name] if enabled else _real_lookups[name])


def block_network_if_asked() -> bool:
    """Turn the guard on when ``COMPANION_BLOCK_NETWORK=1`` is in the environment; return whether it did."""
    if os.environ.get(BLOCK_SWITCH) == "1":
        block_network(True)
        return True
    return False
