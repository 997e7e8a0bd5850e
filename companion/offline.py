"""The offline default, the network guard, and the one switch that opts in to a model hub.

Importing :mod:`companion` calls :func:`enforce_offline_defaults`, which sets
``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` and ``HF_DATASETS_OFFLINE`` so that
transformers and sentence-transformers never try the network. A reader who is
online (on Binder, say) and wants a hub model such as ``bert-base-uncased``
sets the environment variable ``COMPANION_ALLOW_HUB=1`` *before* importing
the companion and calls :func:`load_hub_model`. Offline, or without the
switch, that call fails with a message naming the offline model to use instead.

:func:`block_network` replaces ``socket.connect`` with a guard that refuses
every address outside the loopback range; the test suite turns it on
(environment variable ``COMPANION_BLOCK_NETWORK=1``), so a chapter that tries
the network fails its test instead of hanging.

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


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if self.family != getattr(socket, "AF_UNIX", None) and not _is_local(address):
        raise NetworkBlockedError(f"network access to {address!r} is blocked: the book runs offline")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family != getattr(socket, "AF_UNIX", None) and not _is_local(address):
        raise NetworkBlockedError(f"network access to {address!r} is blocked: the book runs offline")
    return _real_connect_ex(self, address)


def block_network(enabled: bool = True) -> None:
    """Refuse (or, with ``enabled=False``, allow again) connections outside loopback."""
    if enabled:
        socket.socket.connect = _guarded_connect
        socket.socket.connect_ex = _guarded_connect_ex
    else:
        socket.socket.connect = _real_connect
        socket.socket.connect_ex = _real_connect_ex
