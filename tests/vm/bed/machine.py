"""Boot the image under qemu, stream the command's output, and report its exit code.

The guest talks back over two virtio serial ports, each written to a file here: ``output``
(the command's stdout and stderr, streamed to ours) and ``control`` (one line per phase:
``booted …``, ``installed``, ``exit N``). The kernel console goes to ``console.log``, whose
tail is printed when the guest does not come up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .image import Image
from .procs import cannot_start, run_checked, start, tail

GUEST_MEMORY = "3G"
GUEST_CPUS = "2"
QEMU = "qemu-system-x86_64"
QEMU_IMG = "qemu-img"
# What every run needs on the host (a cached image or not): command -> Debian package.
HOST_TOOLS = {QEMU: "qemu-system-x86", QEMU_IMG: "qemu-utils"}


class BootCrashed(Exception):
    """The guest kernel crashed before the guest came up: nothing of the command ran."""


class BedError(Exception):
    """The test bed failed (not the command run in it)."""


@dataclass
class Phases:
    """Seconds spent in each phase, for the summary line."""

    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return ", ".join(f"{name} {secs:.1f}s" for name, secs in self.seconds.items())


def accelerator(image: Image, cache: Path) -> str:
    """``kvm`` where a guest really boots with it, else ``tcg`` (software emulation).

    ``/dev/kvm`` can exist and open while guests still fail on it, so the answer comes from
    booting the kernel for a moment, and is remembered per host kernel and qemu binary.
    ``SSC_VM_ACCEL`` overrides it.
    """
    forced = os.environ.get("SSC_VM_ACCEL")
    if forced:
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise BedError(cannot_start(QEMU))
    key = f"{os.uname().release}-{int(os.stat(qemu).st_mtime)}"
    remembered = cache / f"accel-{key}"
    if remembered.exists():
        return remembered.read_text().strip()
    answer = "kvm" if _kernel_starts_with_kvm(image, cache) else "tcg"
    remembered.write_text(answer + "\n")
    return answer


def _kernel_starts_with_kvm(image: Image, cache: Path) -> bool:
    console = cache / "kvm-probe.log"
    console.write_text("")
    command = [
        QEMU,
        *("-accel", "kvm", "-cpu", "host", "-m", "512M", "-display", "none", "-monitor", "none"),
        *("-no-reboot", "-serial", f"file:{console}"),
        *("-kernel", str(image.kernel), "-initrd", str(image.initrd)),
        *("-append", "console=ttyS0 panic=-1"),
    ]
    proc = start(command, BedError, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    started = False
    while time.monotonic() < deadline and proc.poll() is None:
        if "Run /init as init process" in console.read_text(errors="replace"):
            started = True
            break
        time.sleep(0.2)
    _stop(proc)
    return started


def qemu_command(image: Image, accel: str, run_dir: Path) -> list[str]:
    cpu = "host" if accel == "kvm" else "max"
    accel_option = "kvm" if accel == "kvm" else "tcg,thread=multi"
    kernel_args = " ".join(
        [
            "root=LABEL=ssc-root rw fsck.mode=skip",
            "console=ttyS0 8250.nr_uarts=1 loglevel=4",
            "systemd.show_status=auto systemd.wants=ssc-vm-runner.service",
            "random.trust_cpu=on",
            # A kernel that crashes (software emulation sometimes breaks the kernel's live
            # patching of its own code) ends the run at once instead of hanging until timeout.
            "panic=-1 oops=panic",
        ]
    )
    return [
        QEMU,
        *("-accel", accel_option, "-cpu", cpu, "-smp", GUEST_CPUS, "-m", GUEST_MEMORY),
        *("-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none"),
        *("-serial", f"file:{run_dir / 'console.log'}"),
        *("-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", kernel_args),
        *("-drive", f"file={run_dir / 'overlay.qcow2'},format=qcow2,if=virtio,cache=unsafe"),
        *("-device", "virtio-rng-pci"),
        *("-virtfs", f"local,path={run_dir / 'input'},mount_tag=ssc-input,security_model=none"),
        *("-device", "virtio-serial-pci"),
        *("-chardev", f"file,id=output,path={run_dir / 'output'}"),
        *("-device", "virtserialport,chardev=output,name=ssc.output"),
        *("-chardev", f"file,id=control,path={run_dir / 'control'}"),
        *("-device", "virtserialport,chardev=control,name=ssc.control"),
    ]


def make_overlay(image: Image, run_dir: Path) -> None:
    """A copy-on-write layer over the cached image: each run boots a pristine system."""
    run_checked(
        [
            *(QEMU_IMG, "create", "-q", "-f", "qcow2", "-F", "raw"),
            *("-b", str(image.rootfs), str(run_dir / "overlay.qcow2")),
        ],
        run_dir / "qemu-img.log",
        BedError,
    )


def boot_and_run(
    image: Image,
    accel: str,
    run_dir: Path,
    phases: Phases,
    boot_timeout: float,
    run_timeout: float,
) -> int:
    """Boot, stream the command's output, and return its exit code."""
    make_overlay(image, run_dir)
    for name in ("output", "control", "console.log"):
        (run_dir / name).touch()
    qemu_log = run_dir / "qemu.log"
    with open(qemu_log, "w") as qemu_err:
        proc = start(
            qemu_command(image, accel, run_dir), BedError, stdout=qemu_err, stderr=subprocess.STDOUT
        )
    streamer = _OutputStreamer(run_dir / "output")
    streamer.start()
    try:
        return _follow_phases(proc, run_dir, phases, boot_timeout, run_timeout)
    finally:
        _stop(proc)
        streamer.finish()


def _follow_phases(
    proc: subprocess.Popen[bytes],
    run_dir: Path,
    phases: Phases,
    boot_timeout: float,
    run_timeout: float,
) -> int:
    started = time.monotonic()
    phase_start = started
    phase = "boot"
    seen = 0
    while True:
        lines = (run_dir / "control").read_text(errors="replace").splitlines()
        for line in lines[seen:]:
            now = time.monotonic()
            phases.seconds.pop(f"{phase} (unfinished)", None)
            if line.startswith("booted"):
                phases.seconds["boot"] = now - phase_start
                phase, phase_start = "install", now
                _note(f"guest up ({line})")
            elif line == "installed":
                phases.seconds["install"] = now - phase_start
                phase, phase_start = "run", now
            elif line.startswith("exit "):
                phases.seconds[phase] = now - phase_start
                return int(line.split()[1])
        seen = len(lines)
        now = time.monotonic()
        elapsed = now - started
        phases.seconds[f"{phase} (unfinished)"] = now - phase_start
        if proc.poll() is not None:
            why = _why_qemu_exited(run_dir, proc.returncode)
            if phase == "boot" and why.startswith(GUEST_CRASHED):
                phases.seconds.pop("boot (unfinished)", None)
                raise BootCrashed(why)
            raise BedError(
                f"{why} during {phase} before the command finished\n" + _diagnostics(run_dir)
            )
        if phase == "boot" and elapsed > boot_timeout:
            raise BedError(
                f"the guest did not come up in {boot_timeout:.0f}s\n" + _diagnostics(run_dir)
            )
        if elapsed > run_timeout:
            raise BedError(f"the run took longer than {run_timeout:.0f}s during {phase}")
        time.sleep(0.1)


GUEST_CRASHED = "the guest kernel crashed"


def _why_qemu_exited(run_dir: Path, returncode: int) -> str:
    console = (run_dir / "console.log").read_text(errors="replace")
    if "Kernel panic" in console or "Oops:" in console:
        return f"{GUEST_CRASHED} (an emulator or kernel fault, not a test result)"
    return f"qemu exited ({returncode})"


def _diagnostics(run_dir: Path) -> str:
    return (
        f"--- qemu ---\n{tail(run_dir / 'qemu.log', 10)}\n"
        f"--- console (last lines) ---\n{tail(run_dir / 'console.log', 40)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _note(message: str) -> None:
    print(f"tests/vm/run: {message}", file=sys.stderr, flush=True)


class _OutputStreamer(threading.Thread):
    """Copies what the guest writes to the output port's file to our stdout, as it comes."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self._path = path
        self._done = threading.Event()

    def run(self) -> None:
        with open(self._path, "rb") as source:
            while True:
                chunk = source.read(65536)
                if chunk:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.buffer.flush()
                elif self._done.is_set():
                    return
                else:
                    time.sleep(0.05)

    def finish(self) -> None:
        self._done.set()
        self.join(timeout=10)
