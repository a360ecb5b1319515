"""The one allowlist of deliberate differences from sagemaker-training (docs/sagemaker-contract.md).

`DIFFERENT`: variables both set, with the value ForgeML gives instead and why.
`TRAINING_ENV_DIFFERENT`: the same for keys inside SM_TRAINING_ENV.
`EXTRA`: variables ForgeML sets that the toolkit never does (SageMaker itself, or the launcher).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forgeml.training.spec import HostSpec


@dataclass(frozen=True)
class Difference:
    reason: str
    forgeml_value: Callable[[HostSpec], Any]


_CPUS = (
    "the resource class's CPUs (the cgroup quota), not every CPU of the node: a program sizing its "
    "worker pool by SM_NUM_CPUS must not oversubscribe the node it shares"
)
_GPUS = "the GPUs given to this host (CUDA_VISIBLE_DEVICES), not every GPU nvidia-smi lists"

DIFFERENT: dict[str, Difference] = {
    "SM_NUM_CPUS": Difference(_CPUS, lambda s: str(s.cpu_count)),
    "SM_NUM_GPUS": Difference(_GPUS, lambda s: str(len(s.gpu_indices))),
    "SAGEMAKER_JOB_NAME": Difference(
        "the SageMaker SDK always passes sagemaker_job_name; when a job does not, ForgeML gives "
        "the job's name instead of the toolkit's empty string",
        lambda s: s.hyperparameters.get("sagemaker_job_name", s.job_name),
    ),
}

TRAINING_ENV_DIFFERENT: dict[str, Difference] = {
    "num_cpus": Difference(_CPUS, lambda s: s.cpu_count),
    "num_gpus": Difference(_GPUS, lambda s: len(s.gpu_indices)),
}

_TORCH = "torch.distributed rendezvous, so multi-host programs start without a framework launcher"
EXTRA: dict[str, str] = {
    "TRAINING_JOB_NAME": "set by SageMaker itself (the toolkit reads it for job_name)",
    "SAGEMAKER_BASE_DIR": "the toolkit's own base-dir variable: finds the tree when not at /opt/ml",
    "MASTER_ADDR": _TORCH,
    "MASTER_PORT": _TORCH,
    "WORLD_SIZE": _TORCH,
    "RANK": _TORCH,
    "NODE_RANK": _TORCH,
    "GROUP_RANK": _TORCH,
    "LOCAL_RANK": _TORCH,
    "LOCAL_WORLD_SIZE": _TORCH,
    "GLOO_SOCKET_IFNAME": "the job network's interface for gloo (SageMaker images set it too)",
    "NCCL_SOCKET_IFNAME": "the job network's interface for NCCL (SageMaker images set it too)",
    "CUDA_VISIBLE_DEVICES": "the GPUs this host may use; a node is shared between jobs",
    "PYTHONUNBUFFERED": "log lines reach the job log as they are printed (SageMaker images set it)",
    "PYTHONDONTWRITEBYTECODE": "the code directory is read-only in the jail",
    "PATH": "the algorithm environment's bin first (a container image's PATH)",
    "HOME": "a private writable home (the jail has no /root)",
    "TMPDIR": "a private tmpfs inside the jail",
    "LANG": "UTF-8 text I/O, as SageMaker framework images set",
}
