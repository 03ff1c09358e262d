"""Helpers for the image tests: the container CLI, hardened runs, and an ELF reader.

The engine is podman (with the storage and runtime settings of .ci/image/common.sh) unless the
image was built by a Docker engine (build/image/engine says so, or BOLLARD_IMAGE_ENGINE=docker).
BOLLARD_IMAGE_ARCH (amd64, arm64; default this machine's) is the architecture of the image under
test; a foreign one runs under qemu through the kernel's binfmt handler (.ci/image/binfmt).
"""
import json
import os
import platform
import struct
import subprocess
import time
import tempfile
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ.get("BOLLARD_IMAGE", "localhost/bollard:dev")

# Per architecture: the ELF e_machine, the multiarch triplet, glibc's loader (PT_INTERP), and the
# name of the qemu binfmt handler that runs it on another machine.
ARCHES = {
    "amd64": {"e_machine": 62, "triplet": "x86_64-linux-gnu", "interp": "/lib64/ld-linux-x86-64.so.2",
              "binfmt": "qemu-x86_64"},
    "arm64": {"e_machine": 183, "triplet": "aarch64-linux-gnu", "interp": "/lib/ld-linux-aarch64.so.1",
              "binfmt": "qemu-aarch64"},
}
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
ARCH = os.environ.get("BOLLARD_IMAGE_ARCH") or HOST_ARCH
if ARCH not in ARCHES:
    raise RuntimeError(f"BOLLARD_IMAGE_ARCH={ARCH!r}: not one of {sorted(ARCHES)}")
TARGET = ARCHES[ARCH]
FOREIGN = ARCH != HOST_ARCH


def emulation():
    """None when this kernel can run the image's binaries (natively, or through an enabled qemu binfmt
    handler), else why not."""
    if not FOREIGN:
        return None
    entry = f"/proc/sys/fs/binfmt_misc/{TARGET['binfmt']}"
    try:
        with open(entry) as f:
            lines = f.read().splitlines()
    except OSError:
        return f"no binfmt handler {entry} (install qemu-user-static and binfmt-support: .ci/image/binfmt {ARCH})"
    if not lines or lines[0] != "enabled":
        return f"{entry} is {lines[:1]} (run .ci/image/binfmt {ARCH})"
    if not any(ln.startswith("flags:") and "F" in ln.split(":", 1)[1] for ln in lines):
        return f"{entry} lacks the F flag (the interpreter must be usable inside containers)"
    return None


def require_exec():
    """For a test that starts the image: fails saying why when this kernel cannot run its binaries,
    or, with IMAGE_TEST_EMULATION=off, skips saying that only the structure was tested."""
    if not FOREIGN:
        return
    import pytest  # only the image tests call this; bench/ imports this module without pytest

    why = emulation()
    if os.environ.get("IMAGE_TEST_EMULATION") == "off":
        pytest.skip(f"linux/{ARCH}: structure only, the image was not started ({why or 'IMAGE_TEST_EMULATION=off'})")
    if why is not None:
        pytest.fail(f"linux/{ARCH}: cannot start the image here: {why} (IMAGE_TEST_EMULATION=off skips this)")


def _engine():
    name = os.environ.get("BOLLARD_IMAGE_ENGINE")
    if not name:
        try:
            with open(os.path.join(REPO, "build", "image", "engine")) as f:
                name = f.read().strip()
        except OSError:
            name = "buildah"
    return "docker" if name == "docker" else "podman"


ENGINE = _engine()
if ENGINE == "docker":
    CLI = ["docker"]
    RUN_EXTRA = []
else:
    root = os.environ.get("IMAGE_STORAGE_ROOT", "/var/lib/containers/bollard")
    runroot = os.environ.get("IMAGE_RUN_ROOT", "/run/containers/bollard")
    CLI = ["podman", "--root", root, "--runroot", runroot, "--storage-driver", "vfs",
           "--cgroup-manager=cgroupfs", "--runtime", "runc"]
    # The default ulimits and crun fail on these machines; runc with these limits works.
    RUN_EXTRA = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]

# Every container in these tests runs the way the chart runs it.
HARDENED = ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", "65532"]


def cli(*args, timeout=120, check=False, **kw):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout, check=check, **kw)


def inspect_image(image=IMAGE):
    out = cli("image", "inspect", image, check=True).stdout
    data = json.loads(out)
    return data[0] if isinstance(data, list) else data


def env_file(env):
    """Writes env to a file for --env-file, so secrets stay off the command line."""
    fd, path = tempfile.mkstemp(prefix="bollard-image-env-")
    with os.fdopen(fd, "w") as f:
        for k, v in env.items():
            f.write(f"{k}={v}\n")
    return path


def run_args(env=None, network_host=False, name=None, detach=False, extra=(), entrypoint=None):
    args = ["run"] + RUN_EXTRA + HARDENED
    args += ["--name", name or ("bollard-test-" + uuid.uuid4().hex[:10])]
    args += ["-d"] if detach else ["--rm"]
    if network_host:
        args += ["--network", "host"]
    if env:
        args += ["--env-file", env_file(env)]
    if entrypoint:
        args += ["--entrypoint", entrypoint]
    return args + list(extra)


def run(cmd, env=None, network_host=False, timeout=120, extra=(), entrypoint=None):
    """Runs the image once (hardened) with cmd as its arguments; returns CompletedProcess."""
    return cli(*run_args(env, network_host, extra=extra, entrypoint=entrypoint), IMAGE, *cmd, timeout=timeout)


class Container:
    """A detached, hardened container of the image; removed by stop()."""

    def __init__(self, cmd, env=None, network_host=True, extra=()):
        self.name = "bollard-test-" + uuid.uuid4().hex[:10]
        r = cli(*run_args(env, network_host, name=self.name, detach=True, extra=extra), IMAGE, *cmd)
        if r.returncode != 0:
            raise RuntimeError(f"{ENGINE} run failed ({r.returncode}): {r.stderr.strip()}")

    def state(self):
        r = cli("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}", self.name)
        status, code, pid = (r.stdout.split() + ["", "", ""])[:3]
        return status, int(code or 0), int(pid or 0)

    def running(self):
        return self.state()[0] == "running"

    def exec(self, *args, timeout=30):
        return cli("exec", self.name, *args, timeout=timeout)

    def logs(self):
        r = cli("logs", self.name)
        return (r.stdout + r.stderr)[-4000:]

    def stop(self):
        cli("rm", "-f", "-t", "2", self.name, timeout=60)


# ---- ELF: just enough to list what a file needs from the dynamic loader.
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
ET_EXEC, ET_DYN = 2, 3


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def read_elf(path):
    """{'type', 'machine', 'interp', 'needed', 'runpath'} of an ELF file (32/64-bit, either byte order)."""
    with open(path, "rb") as f:
        data = f.read()
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        e_type, e_machine = struct.unpack_from(end + "HH", data, 16)
        e_phoff, = struct.unpack_from(end + "Q", data, 32)
        e_phentsize, e_phnum = struct.unpack_from(end + "HH", data, 54)
    else:
        e_type, e_machine = struct.unpack_from(end + "HH", data, 16)
        e_phoff, = struct.unpack_from(end + "I", data, 28)
        e_phentsize, e_phnum = struct.unpack_from(end + "HH", data, 42)
    loads, dynamic, interp = [], None, None
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        if is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(end + "IIQQQQ", data, off)
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(end + "IIIII", data, off)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
        elif p_type == PT_INTERP:
            interp = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
    needed, runpath, strtab = [], [], None
    entries = []
    if dynamic:
        size = 16 if is64 else 8
        fmt = end + ("qQ" if is64 else "iI")
        for off in range(dynamic[0], dynamic[0] + dynamic[1], size):
            tag, val = struct.unpack_from(fmt, data, off)
            if tag == 0:
                break
            entries.append((tag, val))
            if tag == DT_STRTAB:
                strtab = val

    def string(offset):
        base = None
        for vaddr, foff, fsz in loads:
            if vaddr <= strtab < vaddr + fsz:
                base = strtab - vaddr + foff
        if base is None:
            base = strtab
        stop = data.index(b"\0", base + offset)
        return data[base + offset:stop].decode()

    for tag, val in entries:
        if tag == DT_NEEDED:
            needed.append(string(val))
        elif tag in (DT_RPATH, DT_RUNPATH):
            runpath += string(val).split(":")
    return {"type": e_type, "machine": e_machine, "interp": interp, "needed": needed, "runpath": runpath}


def resolve_in_root(root, path, depth=0):
    """The host path of `path` inside the root filesystem `root`, following symlinks inside it."""
    if depth > 40:
        return None
    parts = [p for p in path.split("/") if p]
    cur = "/"
    for i, part in enumerate(parts):
        nxt = os.path.join(cur, part)
        host = os.path.join(root, nxt.lstrip("/"))
        if os.path.islink(host):
            target = os.readlink(host)
            target = target if target.startswith("/") else os.path.join(cur, target)
            rest = "/".join(parts[i + 1:])
            return resolve_in_root(root, os.path.normpath(os.path.join(target, rest)), depth + 1)
        if not os.path.lexists(host):
            return None
        cur = nxt
    return os.path.join(root, cur.lstrip("/"))


def library_dirs(root, triplet=TARGET["triplet"]):
    """The loader's search directories inside root: ld.so.conf(.d) entries, then the defaults."""
    dirs = []
    conf_dir = resolve_in_root(root, "/etc/ld.so.conf.d")
    if conf_dir and os.path.isdir(conf_dir):
        for name in sorted(os.listdir(conf_dir)):
            if name.endswith(".conf"):
                with open(os.path.join(conf_dir, name)) as f:
                    dirs += [ln.strip() for ln in f if ln.strip().startswith("/")]
    dirs += [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    return dirs


class Exited(Exception):
    """The container under test stopped: no point polling any longer."""


def poll(cond, timeout, interval=0.02, what="condition"):
    """Polls cond() until truthy or the deadline; an Exited raised by cond ends it at once."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except Exited:
            raise
        except Exception as e:  # not up yet
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
