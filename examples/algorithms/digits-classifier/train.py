"""Train a small PyTorch CNN on 8x8 handwritten digit images stored as CSV.

This is a plain SageMaker script-mode training script: it runs unchanged on Amazon SageMaker
(PyTorch framework container or any image with torch) and on ForgeML, which builds the same
``/opt/ml`` tree and ``SM_*`` environment for it.

Input channels (folders; every ``*.csv`` file in them is read):

* ``train`` (required): labelled images, e.g. the customer's (tenant's) own data.
* ``platform`` (optional): more labelled images, e.g. the platform owner's curated dataset.
  Its rows are simply concatenated with ``train``; training uses both.
* ``validation`` (optional): held-out images; when present, ``val_loss``/``val_acc`` are reported
  after every epoch.

Each CSV has a header row, 64 pixel columns (row-major 8x8, values 0..16, as in scikit-learn's
``load_digits``) and a ``label`` column (an integer class; if no column is named ``label``, the
last column is the label).

Hyperparameters arrive as ``--key value`` arguments: ``--epochs``, ``--lr``, ``--batch-size``,
``--optimizer`` (sgd|adam), ``--seed``.

Output:

* ``$SM_MODEL_DIR/model-torchscript.pt``: the trained model as a self-contained TorchScript
  program: ``torch.jit.load(path)`` alone loads it (no class from this file needed); it takes raw
  pixel rows, a float tensor (N, 64) of values 0..16, and returns (N, num_classes) logits.
* ``$SM_MODEL_DIR/model.pt``: ``{"state_dict": ..., "metadata": {...}}`` (load with
  ``torch.load(path, weights_only=True)`` and ``DigitsCNN(num_classes).load_state_dict(...)``),
  plus ``$SM_MODEL_DIR/metadata.json``.
* log lines ``epoch=N loss=... train_acc=... [val_loss=... val_acc=...]`` and
  ``epoch=N samples_per_sec=...`` that the platform's metric regexes pick up.
* checkpoints in ``/opt/ml/checkpoints`` (SageMaker's default local checkpoint path) after every
  epoch; a restarted job resumes from the newest one.
* on an error: the reason in ``/opt/ml/output/failure`` and exit code 1.

Multi-instance training (``SM_HOSTS`` lists more than one host) uses ``torch.distributed`` with the
gloo backend (NCCL on GPUs) and DistributedDataParallel; only the first host writes the model.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

PIXELS = 64
PIXEL_MAX = 16.0
CHECKPOINT_PREFIX = "checkpoint-epoch-"


# --------------------------------------------------------------------------------------------
# Model


class DigitsCNN(nn.Module):
    """Two 3x3 conv layers, one max-pool, two dense layers; input (N, 1, 8, 8) scaled to 0..1."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class RawPixelsClassifier(nn.Module):
    """What the TorchScript export wraps: raw (N, 64) pixels 0..16 in, logits out, so whoever
    loads it needs neither this file nor the scaling convention."""

    def __init__(self, cnn: DigitsCNN) -> None:
        super().__init__()
        self.cnn = cnn
        self.scale = PIXEL_MAX  # an attribute: TorchScript cannot read module globals

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.cnn(pixels.reshape(-1, 1, 8, 8) / self.scale)


def export_torchscript(model: DigitsCNN, path: str) -> None:
    scripted = torch.jit.script(RawPixelsClassifier(model).cpu().eval())
    scripted.save(path)


# --------------------------------------------------------------------------------------------
# Arguments and environment


def _env_json(name: str, default: object) -> object:
    value = os.environ.get(name)
    return json.loads(value) if value else default


def default_checkpoint_dir() -> str | None:
    """SageMaker syncs ``/opt/ml/checkpoints`` to S3 when checkpointing is configured."""
    candidates = [os.environ.get("SM_CHECKPOINT_DIR")]
    if os.environ.get("SAGEMAKER_BASE_DIR"):
        candidates.append(os.path.join(os.environ["SAGEMAKER_BASE_DIR"], "checkpoints"))
    candidates.append("/opt/ml/checkpoints")
    for candidate in candidates:
        if candidate and os.path.isdir(candidate):
            return candidate
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # hyperparameters
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    p.add_argument("--seed", type=int, default=0)
    # SageMaker environment
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    p.add_argument("--platform", default=os.environ.get("SM_CHANNEL_PLATFORM"))
    p.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    p.add_argument("--output-dir", default=os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
    p.add_argument("--checkpoint-dir", default=default_checkpoint_dir())
    p.add_argument("--hosts", type=json.loads, default=_env_json("SM_HOSTS", ["algo-1"]))
    p.add_argument("--current-host", default=os.environ.get("SM_CURRENT_HOST", "algo-1"))
    p.add_argument("--num-cpus", type=int, default=int(os.environ.get("SM_NUM_CPUS") or 0))
    p.add_argument("--num-gpus", type=int, default=int(os.environ.get("SM_NUM_GPUS") or 0))
    args, unknown = p.parse_known_args(argv)
    if unknown:
        print(f"ignoring unknown arguments: {' '.join(unknown)}", flush=True)
    return args


# --------------------------------------------------------------------------------------------
# Data


def read_csv_folder(folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read every ``*.csv`` in ``folder`` (sorted by name) into (images, labels)."""
    files = sorted(Path(folder).rglob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv files in channel folder {folder}")
    pixels: list[list[float]] = []
    labels: list[int] = []
    for path in files:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                continue
            label_col = header.index("label") if "label" in header else len(header) - 1
            feature_cols = [i for i in range(len(header)) if i != label_col]
            if len(feature_cols) != PIXELS:
                raise ValueError(f"{path.name}: expected {PIXELS} pixel columns + label")
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    pixels.append([float(row[i]) for i in feature_cols])
                    labels.append(int(float(row[label_col])))
                except (ValueError, IndexError) as exc:
                    raise ValueError(f"{path.name} line {line_no}: {exc}") from None
    if not labels:
        raise ValueError(f"channel folder {folder} has no data rows")
    x = torch.tensor(pixels, dtype=torch.float32).view(-1, 1, 8, 8) / PIXEL_MAX
    return x, torch.tensor(labels, dtype=torch.long)


def load_training_data(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    if not args.train:
        raise ValueError("no train channel (SM_CHANNEL_TRAIN is not set)")
    x, y = read_csv_folder(args.train)
    print(f"train channel: {len(y)} rows", flush=True)
    if args.platform and os.path.isdir(args.platform):
        px, py = read_csv_folder(args.platform)
        print(f"platform channel: {len(py)} rows (concatenated with train)", flush=True)
        x, y = torch.cat([x, px]), torch.cat([y, py])
    return x, y


# --------------------------------------------------------------------------------------------
# Distributed helpers


def setup_distributed(args: argparse.Namespace, backend: str) -> tuple[int, int]:
    """Return (rank, world_size); join the process group when there is more than one host."""
    hosts = sorted(args.hosts)
    world_size = len(hosts)
    rank = hosts.index(args.current_host)
    if world_size == 1:
        return 0, 1
    os.environ.setdefault("MASTER_ADDR", hosts[0])
    os.environ.setdefault("MASTER_PORT", "29500")
    # SageMaker names the network interface in resourceconfig.json; gloo must bind to it.
    resource_config = json.loads(os.environ.get("SM_RESOURCE_CONFIG") or "{}")
    if "GLOO_SOCKET_IFNAME" not in os.environ and resource_config.get("network_interface_name"):
        os.environ["GLOO_SOCKET_IFNAME"] = resource_config["network_interface_name"]
    print(
        f"joining process group: rank={rank} world_size={world_size} "
        f"master={os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
        flush=True,
    )
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(minutes=5),
    )
    return rank, world_size


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


# --------------------------------------------------------------------------------------------
# Checkpoints


def load_latest_checkpoint(checkpoint_dir: str | None) -> dict | None:
    if not checkpoint_dir or not os.path.isdir(checkpoint_dir):
        return None
    paths = sorted(Path(checkpoint_dir).glob(f"{CHECKPOINT_PREFIX}*.pt"), reverse=True)
    for path in paths:  # newest first; skip a file that a crash left half-written
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            print(f"skipping unreadable checkpoint {path.name}: {exc}", flush=True)
    return None


def save_checkpoint(checkpoint_dir: str, state: dict, epoch: int, keep: int = 2) -> None:
    final = Path(checkpoint_dir) / f"{CHECKPOINT_PREFIX}{epoch:05d}.pt"
    tmp = final.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, final)
    for old in sorted(Path(checkpoint_dir).glob(f"{CHECKPOINT_PREFIX}*.pt"))[:-keep]:
        old.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Training


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device):
    model.eval()
    with torch.no_grad():
        logits = model(x.to(device))
        loss = F.cross_entropy(logits, y.to(device)).item()
        acc = (logits.argmax(dim=1).cpu() == y).float().mean().item()
    return loss, acc


def train(args: argparse.Namespace) -> None:
    num_cpus = args.num_cpus or os.cpu_count() or 1
    torch.set_num_threads(max(1, num_cpus))
    use_cuda = args.num_gpus > 0 and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    rank, world_size = setup_distributed(args, backend="nccl" if use_cuda else "gloo")
    torch.manual_seed(args.seed)

    x, y = load_training_data(args)
    val = read_csv_folder(args.validation) if args.validation else None
    num_classes = int(max(y.max().item(), val[1].max().item() if val else 0)) + 1

    model = DigitsCNN(num_classes).to(device)
    optimizer: torch.optim.Optimizer
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    # Rank 0 reads the checkpoint and sends it to the others, so only its host needs the files.
    start_epoch = 0
    checkpoint = load_latest_checkpoint(args.checkpoint_dir) if rank == 0 else None
    if world_size > 1:
        box = [checkpoint]
        dist.broadcast_object_list(box, src=0)
        checkpoint = box[0]
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = int(checkpoint["epoch"])
        print(f"resumed from epoch {start_epoch}", flush=True)

    net: nn.Module = model
    if world_size > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[0] if use_cuda else None)

    dataset = TensorDataset(x, y)
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed
    )
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)

    val_loss = val_acc = None
    for epoch in range(start_epoch + 1, args.epochs + 1):
        sampler.set_epoch(epoch)
        net.train()
        started = time.perf_counter()
        loss_sum = correct = seen = 0.0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(dim=1) == yb).sum().item()
            seen += len(yb)
        elapsed = time.perf_counter() - started
        loss_sum, correct, seen = all_reduce_sum([loss_sum, correct, seen], device)

        line = f"epoch={epoch} loss={loss_sum / seen:.4f} train_acc={correct / seen:.4f}"
        if val is not None:
            val_loss, val_acc = evaluate(model, val[0], val[1], device)
            line += f" val_loss={val_loss:.4f} val_acc={val_acc:.4f}"
        if rank == 0:
            print(line, flush=True)
            print(f"epoch={epoch} samples_per_sec={seen / max(elapsed, 1e-9):.1f}", flush=True)
            if args.checkpoint_dir:
                state = {
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                }
                save_checkpoint(args.checkpoint_dir, state, epoch)

    if val is not None and val_acc is None:  # resumed after the last epoch: nothing to train
        val_loss, val_acc = evaluate(model, val[0], val[1], device)
        print(f"val_loss={val_loss:.4f} val_acc={val_acc:.4f}", flush=True)

    if rank == 0:
        metadata = {
            "framework": "pytorch",
            "torch_version": str(torch.__version__),
            "model_class": "DigitsCNN",
            "num_classes": num_classes,
            "input_shape": [1, 8, 8],
            "pixel_scale": PIXEL_MAX,
            "epochs": args.epochs,
            "hyperparameters": {
                "epochs": args.epochs,
                "lr": args.lr,
                "batch-size": args.batch_size,
                "optimizer": args.optimizer,
                "seed": args.seed,
            },
            "train_rows": len(y),
            "hosts": world_size,
            "val_acc": val_acc,
        }
        os.makedirs(args.model_dir, exist_ok=True)
        state_dict = {k: v.cpu() for k, v in model.state_dict().items()}
        torch.save(
            {"state_dict": state_dict, "metadata": metadata},
            os.path.join(args.model_dir, "model.pt"),
        )
        with open(os.path.join(args.model_dir, "metadata.json"), "w") as f:
            json.dump(metadata, f, indent=2)
        export_torchscript(model, os.path.join(args.model_dir, "model-torchscript.pt"))
        print(f"model written to {args.model_dir}/model.pt and model-torchscript.pt", flush=True)

    if dist.is_initialized():
        dist.barrier()  # without it a rank may abort at exit while the other is still finishing
        dist.destroy_process_group()


def write_failure(output_dir: str, exc: BaseException) -> None:
    """SageMaker convention: the first 1024 characters of output/failure are the failure reason."""
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    frames = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    try:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "failure"), "w") as f:
            f.write(f"{summary}\n\nTraceback (most recent call last, last 3 frames):\n{frames}")
    except OSError as write_error:
        print(f"could not write failure file: {write_error}", file=sys.stderr)


def main() -> int:
    output_dir = os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")
    try:
        args = parse_args()
        output_dir = args.output_dir
        train(args)
    except Exception as exc:
        traceback.print_exc()
        write_failure(output_dir, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
