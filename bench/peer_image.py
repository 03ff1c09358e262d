#!/usr/bin/env python3
"""Builds the FastAPI peer's container image (bench/peers/fastapi/Containerfile) for `make bench-image`,
in the same container storage and with the same engine as Bollard's image, and prints its tag.

    python3 bench/peer_image.py          (after `make image`)

The tag is localhost/bollard-bench-fastapi:<key>, the key a hash of the recipe (Containerfile, app,
pinned requirements, base image): an unchanged recipe is not rebuilt. The base is BASE if given,
else the Debian bookworm stand-in `make image` built (localhost/bollard-build-base:<its key>) when
it exists, else the Containerfile's default (docker.io/library/debian:bookworm). The wheels of the
pinned requirements are downloaded on the host with pip (manylinux, CPython 3.11, Debian 12's
Python) and bind-mounted into the build.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
import imagetool  # tests/lib: PYTHONPATH, set by the bench targets (bench/bench.mk)

PEER = os.path.join(HERE, "peers", "fastapi")
NAME = "localhost/bollard-bench-fastapi"
FILES = ("Containerfile", "app.py", "requirements.txt")


def buildah():
    root = os.environ.get("IMAGE_STORAGE_ROOT", "/var/lib/containers/bollard")
    runroot = os.environ.get("IMAGE_RUN_ROOT", "/run/containers/bollard")
    return ["buildah", "--root", root, "--runroot", runroot, "--storage-driver", "vfs"]


def have(image):
    return imagetool.cli("image", "inspect", image).returncode == 0


def base():
    if os.environ.get("BASE"):
        return os.environ["BASE"]
    key = subprocess.run([os.path.join(REPO, ".ci", "image", "build-base"), "--key"], capture_output=True,
                         text=True, cwd=REPO).stdout.strip()
    local = f"localhost/bollard-build-base:{key}"
    return local if key and have(local) else None


def ensure():
    b = base()
    h = hashlib.sha256((b or "default").encode())
    for name in FILES:
        with open(os.path.join(PEER, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    tag = f"{NAME}:{h.hexdigest()[:16]}"
    if have(tag):
        print(f"peer image: cached ({tag})", file=sys.stderr)
        return tag
    ctx = tempfile.mkdtemp(prefix="bollard-peer-image-")
    try:
        for name in FILES:
            shutil.copy(os.path.join(PEER, name), ctx)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11",
                        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                        "--platform", "manylinux2014_x86_64", "--platform", "any",
                        "-r", os.path.join(PEER, "requirements.txt"), "-d", os.path.join(ctx, "wheels")],
                       check=True)
        args = ["--build-arg", f"BASE={b}"] if b else []
        print(f"peer image: building {tag} from {b or 'the Containerfile default base'}", file=sys.stderr)
        if imagetool.ENGINE == "docker":
            cmd = ["docker", "build", "-f", os.path.join(ctx, "Containerfile"), "-t", tag] + args + [ctx]
        else:
            cmd = buildah() + ["bud", "--isolation", "chroot", "--pull=never" if b else "--pull=missing",
                               "-f", os.path.join(ctx, "Containerfile"), "-t", tag] + args + [ctx]
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    # Earlier recipes' peer images: vfs storage keeps a full copy of each.
    for line in imagetool.cli("images", "--format", "{{.Repository}}:{{.Tag}}", NAME).stdout.split():
        if line != tag:
            imagetool.cli("rmi", "-f", line)
    return tag


if __name__ == "__main__":
    print(ensure())
