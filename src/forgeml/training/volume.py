"""A host's disk volume: everything the job writes (its /opt/ml tree, /tmp, HOME) is capped at
`spec.volume_bytes` — by a loop-mounted ext4 image where the launcher may mount, else a watchdog.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Literal

from forgeml.domain.failures import FailureKind, display
from forgeml.training.spec import HostSpec

VolumeMode = Literal["auto", "mount", "watch"]
WATCH_INTERVAL_S = 1.0
# A failed run's mounted volume counts as full with less than 1% (at least 1 MiB) left, or less
# than 10% when the program reported ENOSPC (it may have been refused one large write).
_FULL_FRACTION = 0.01
_FULL_MIN_BYTES = 1024 * 1024
_ENOSPC_FRACTION = 0.10
ENOSPC_TEXT = "No space left on device"
log = logging.getLogger(__name__)


def _run(argv: list[str]) -> str | None:
    """Run a mount tool; the problem, or None when it worked."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]}: {exc}"
    return None if done.returncode == 0 else f"{argv[0]}: {done.stderr.decode()[-300:].strip()}"


def usage_bytes(root: Path) -> int:
    """Disk blocks used under `root`, not following links (channels and code are links)."""
    total, stack = 0, [root]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
    return total


class HostVolume:
    """The size-limited filesystem under one host's tree; `open()` before the tree is built.

    `mount`: a sparse ext4 image of exactly the volume, loop-mounted (nodev, nosuid) on the tree:
    the kernel refuses writes past it (ENOSPC) whatever the program does, in every sandbox mode,
    for every path inside the tree (the jail's /tmp and the program's HOME live there too).
    `watch`: no mount rights; the launcher sums the tree's blocks every second and stops the run
    once it is over the volume (a burst between two checks can overshoot).
    """

    def __init__(self, spec: HostSpec, mode: VolumeMode = "auto") -> None:
        self.root = spec.work_root
        self.size = spec.volume_bytes
        self.label = f"{spec.volume_gb} GB"
        self.image = self.root.parent / f"{self.root.name}.volume.img"
        self.wanted = mode
        self.mode: Literal["mount", "watch", "none"] = "none"
        self.tripped = False
        self._next_check = 0.0

    @property
    def scratch(self) -> Path:
        """The program's /tmp (jailed) or HOME and TMPDIR (sandbox off): inside the volume."""
        return self.root / ".scratch"

    @property
    def message(self) -> str:
        return display(FailureKind.LIMIT_EXCEEDED, f"the job exceeded its volume of {self.label}")

    def open(self) -> HostVolume:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.size > 0:
            problem = self._mount() if self.wanted != "watch" else "watch mode configured"
            if problem is None:
                self.mode = "mount"
            elif self.wanted == "mount":
                raise OSError(f"cannot mount the job's volume: {problem}")
            else:
                log.info("job volume watched, not mounted: %s", problem)
                self.mode = "watch"
        self.scratch.mkdir(exist_ok=True)
        return self

    def _mount(self) -> str | None:
        if os.geteuid() != 0:
            return "the launcher is not root"
        with self.image.open("wb") as f:
            f.truncate(self.size)  # sparse: the host disk is used only as the job writes
        # No journal, no reserved blocks: the job gets the whole (throw-away) volume.
        problem = _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", str(self.image)])
        if problem is None:
            opts = "loop,nodev,nosuid"
            problem = _run(["mount", "-t", "ext4", "-o", opts, str(self.image), str(self.root)])
        if problem is not None:
            self.image.unlink(missing_ok=True)
            return problem
        shutil.rmtree(self.root / "lost+found", ignore_errors=True)
        return None

    def describe(self) -> str:
        if self.mode == "mount":
            return f"volume={self.size} (ext4 loop mount)"
        if self.mode == "watch":
            return f"volume={self.size} (watched every {WATCH_INTERVAL_S:g}s)"
        return "volume=unlimited"

    def over_limit(self) -> bool:
        """Watch mode, at most once a second: is the tree over the volume? (latched)"""
        if self.mode != "watch" or self.tripped:
            return False
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + WATCH_INTERVAL_S
        self.tripped = usage_bytes(self.root) > self.size
        return self.tripped

    def verdict(self, *, failed: bool, enospc: bool = False) -> str | None:
        """The failure reason when the run went past its volume, else None.

        Watched: being over the volume fails the run even if the program exited 0 (it wrote
        more than it may). Mounted: the kernel already refused the excess, so a full volume
        only explains a run that failed.
        """
        if self.mode == "watch" and (self.tripped or usage_bytes(self.root) > self.size):
            return self.message
        if self.mode == "mount" and failed:
            with contextlib.suppress(OSError):
                st = os.statvfs(self.root)
                left = st.f_bavail * st.f_frsize
                fraction = _ENOSPC_FRACTION if enospc else _FULL_FRACTION
                if left < max(self.size * fraction, _FULL_MIN_BYTES):
                    return self.message
        return None

    def close(self) -> None:
        """Unmount and drop the image; lazily when something still holds the mount."""
        if self.mode == "mount":
            if _run(["umount", str(self.root)]) is not None:
                _run(["umount", "-l", str(self.root)])
            self.image.unlink(missing_ok=True)
            self.mode = "none"


def release_stale(under: Path) -> list[Path]:
    """Lazily unmount volumes left mounted under `under` (a runner died mid-run) and drop their
    images; the mount points it released. Call only where no live run can be (a job's folder
    before its new attempt starts)."""
    points = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        # /proc/mounts writes spaces, tabs and backslashes of paths as octal escapes.
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1]))
        if point != under and point.is_relative_to(under):
            points.append(point)
    for point in sorted(points, key=lambda p: len(p.parts), reverse=True):
        _run(["umount", "-l", str(point)])
        (point.parent / f"{point.name}.volume.img").unlink(missing_ok=True)
    return points
