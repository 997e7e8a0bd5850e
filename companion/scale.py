"""Pre-training at scale, in numbers: training compute, training memory, and data parallelism.

Three pieces, each small enough to read:

- :func:`training_memory`: bytes needed to *train* a model with Adam, beyond
  its activations: weights, gradients and optimizer state. With mixed precision
  (Micikevicius et al. 2018) each parameter costs 2 bytes of bf16/fp16 weights,
  2 bytes of gradient, and 12 bytes of fp32 optimizer state (master copy,
  first and second moment): 16 bytes per parameter, the accounting of the ZeRO
  paper (Rajbhandari et al. 2020). Plain fp32 training costs 4 + 4 + 8 = 16 too;
  inference in bf16 needs only the 2 bytes of weights.
- :func:`training_compute` (re-exported from :mod:`companion.decoding`): about
  ``6 N D`` floating-point operations to train ``N`` parameters on ``D`` tokens
  (Kaplan et al. 2020).
- :func:`train_data_parallel`: one training run of a small classifier with
  ``world_size`` processes that each see a shard of every batch and average
  their gradients with ``torch.distributed`` (gloo backend, on this machine's
  loopback interface) through ``DistributedDataParallel``. With equal shards
  the averaged gradient is the full batch's gradient: 2 processes reach the
  weights of 1 process that accumulates the gradients of the same 2 shards,
  bit for bit, and those of a plain full-batch run up to the order of
  floating-point sums (the test suite checks both).

Explained in the chapter "Pre-training, transfer learning and scale"
(``book/pretraining-at-scale.ipynb``).

Examples
--------
GPT-3 (175 billion parameters) trained with Adam in mixed precision needs 2.8 TB
for weights, gradients and optimizer state alone: 35 GPUs of 80 GB before a
single activation is stored.

>>> from companion.scale import training_memory
>>> memory = training_memory(175e9)
>>> memory["total"] / 1e12
2.8
>>> round(memory["total"] / 80e9)
35
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .decoding import training_compute

__all__ = ["training_memory", "training_compute", "PRECISIONS", "DataParallelResult", "make_classifier",
           "train_data_parallel"]

#: bytes per parameter: (weights, gradients, optimizer state) for Adam
PRECISIONS = {
    "mixed": (2, 2, 12),   # bf16 weights and gradients; fp32 master weights, Adam m and v
    "fp32": (4, 4, 8),     # fp32 weights and gradients; Adam m and v
    "bf16-inference": (2, 0, 0),
}


def training_memory(n_parameters: float, precision: str = "mixed") -> dict[str, float]:
    """Bytes for weights, gradients and Adam state of ``n_parameters`` (activations not included)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid values are: {', '.join(PRECISIONS)}")
    if isinstance(n_parameters, bool) or not isinstance(n_parameters, (int, float, np.integer, np.floating)) \
            or not n_parameters > 0:
        raise ValueError(f"n_parameters must be a positive number, got {n_parameters!r}")
    weights, gradients, optimizer = (b * float(n_parameters) for b in PRECISIONS[precision])
    return {"weights": weights, "gradients": gradients, "optimizer": optimizer,
            "total": weights + gradients + optimizer}


# --------------------------------------------------------------------------- data parallelism


def make_classifier(n_features: int, hidden: int, n_classes: int, seed: int) -> nn.Module:
    """A two-layer perceptron with weights drawn from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


@dataclass
class DataParallelResult:
    """What one run returns: final weights, the loss of every step, and the training loop's wall time."""

    world_size: int
    state_dict: dict
    losses: list[float]
    seconds: float


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _batches(n: int, batch_size: int, epochs: int, seed: int):
    """The same sequence of global batches on every process: a seeded permutation per epoch."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):  # drop the last, incomplete batch
            yield order[start:start + batch_size]


def _train(rank: int, world_size: int, X: torch.Tensor, y: torch.Tensor, config: dict, out_dir: str | None) -> DataParallelResult:
    torch.set_num_threads(config["threads_per_process"])
    model = make_classifier(X.shape[1], config["hidden"], int(y.max()) + 1, config["seed"])
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model)  # broadcasts rank 0's weights, then averages gradients
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    start = time.perf_counter()
    m = config["accumulation_steps"]
    for batch in _batches(len(X), config["batch_size"], config["epochs"], config["seed"]):
        shard = batch[rank::world_size]  # this process's equal share of the global batch
        optimizer.zero_grad()
        loss = torch.zeros(())
        for j in range(m):  # gradient accumulation over m equal micro-batches of the shard
            micro = torch.from_numpy(shard[j::m])
            part = loss_fn(model(X[micro]), y[micro]) / m
            part.backward()  # with DDP: gradients are all-reduced (averaged) across processes here
            loss += part.detach()
        optimizer.step()
        losses.append(loss)
    seconds = time.perf_counter() - start
    local = torch.stack(losses)
    if world_size > 1:  # the global batch's loss is the mean of the equal shards' losses
        torch.distributed.all_reduce(local)
        local /= world_size
        model = model.module
    result = DataParallelResult(world_size, {k: v.detach().clone() for k, v in model.state_dict().items()},
                                local.tolist(), seconds)
    if out_dir is not None and rank == 0:
        torch.save(result.__dict__, Path(out_dir) / "result.pt")
    return result


def _worker(rank: int, world_size: int, port: int, X, y, config: dict, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        _train(rank, world_size, X, y, config, out_dir)
    finally:
        dist.destroy_process_group()


def train_data_parallel(X, y, world_size: int = 2, hidden: int = 256, epochs: int = 3, batch_size: int = 64,
                        lr: float = 0.05, seed: int = 0, threads_per_process: int = 1,
                        accumulation_steps: int = 1) -> DataParallelResult:
    """Train :func:`make_classifier` on ``(X, y)`` with ``world_size`` data-parallel processes.

    ``world_size=1`` trains in this process, with no ``torch.distributed`` at
    all: the reference run. Otherwise ``world_size`` processes are started
    (``torch.multiprocessing.spawn``), join a gloo process group on
    127.0.0.1, and each trains on ``batch_size / world_size`` examples of every
    global batch; rank 0's result is returned. ``batch_size`` must be divisible
    by ``world_size`` so the shards are equal and the averaged gradient is the
    global batch's.

    ``accumulation_steps=m`` splits each process's shard again into ``m`` equal
    micro-batches whose gradients are accumulated before the step. One process
    with ``accumulation_steps=2`` therefore computes the gradients of exactly
    the two shards that two processes compute, and adds them in the same way:
    halving is exact in floating point and a sum of two numbers does not depend
    on their order, so that run and the two-process run agree bit for bit
    (the test suite checks it). A plain one-process run sums the whole batch in
    one pass, in another order, and agrees only up to rounding.
    """
    X = torch.tensor(np.asarray(X), dtype=torch.float32)
    y = torch.tensor(np.asarray(y), dtype=torch.long)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty 2-D array (examples x features), got shape {tuple(X.shape)}")
    if y.shape != (len(X),):
        raise ValueError(f"y must have one label per row of X ({len(X)}), got shape {tuple(y.shape)}")
    for name, value in {"world_size": world_size, "hidden": hidden, "epochs": epochs, "batch_size": batch_size,
                        "threads_per_process": threads_per_process, "accumulation_steps": accumulation_steps}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if batch_size % (world_size * accumulation_steps):
        raise ValueError(f"batch_size ({batch_size}) must be divisible by world_size ({world_size}) x "
                         f"accumulation_steps ({accumulation_steps}) for equal shards")
    if batch_size > len(X):
        raise ValueError(f"batch_size ({batch_size}) is larger than the data ({len(X)} examples)")
    config = {"hidden": hidden, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
              "threads_per_process": threads_per_process, "accumulation_steps": accumulation_steps}
    if world_size == 1:
        threads = torch.get_num_threads()
        try:
            return _train(0, 1, X, y, config, None)
        finally:
            torch.set_num_threads(threads)
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="companion-ddp-") as out_dir:
        mp.spawn(_worker, args=(world_size, _free_port(), X, y, config, out_dir), nprocs=world_size, join=True)
        stored = torch.load(Path(out_dir) / "result.pt")
    return DataParallelResult(**stored)
