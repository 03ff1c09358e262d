"""Image tests: run only by `make image-test` (which builds the image and sets BOLLARD_IMAGE_TEST=1).

The plain `pytest tests` pass of `make test` does not collect them: there the image has not been
built yet. `make image-test` is itself one of `make test`'s targets, and it fails (never skips)
when the container engine cannot run.

BOLLARD_IMAGE_ARCH says which architecture the image is (.ci/image/test-image sets it per platform
of the manifest list); a foreign one runs under qemu. A test that starts the image is marked
`starts_image`: without qemu it fails saying why (imagetool.require_exec), or is skipped saying so
with IMAGE_TEST_EMULATION=off.
"""
import os
import shutil
import subprocess
import tempfile

import pytest

import imagetool

if os.environ.get("BOLLARD_IMAGE_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config):
    config.addinivalue_line("markers", "starts_image: the test runs the image's binaries (qemu on a foreign arch)")


def pytest_runtest_setup(item):
    if item.get_closest_marker("starts_image") is not None:
        imagetool.require_exec()


@pytest.fixture(scope="session")
def image_config():
    """`image inspect` of the image under test; fails loudly if the engine cannot show it."""
    r = imagetool.cli("image", "inspect", imagetool.IMAGE)
    if r.returncode != 0:
        pytest.fail(f"{imagetool.ENGINE} cannot inspect {imagetool.IMAGE} (run `make image`): {r.stderr.strip()}")
    return imagetool.inspect_image()


@pytest.fixture(scope="session")
def rootfs(image_config):
    """The image's filesystem, exported to a temporary directory."""
    d = tempfile.mkdtemp(prefix="bollard-image-rootfs-")
    name = "bollard-export-" + os.path.basename(d)
    tar = os.path.join(d, "rootfs.tar")
    root = os.path.join(d, "root")
    os.mkdir(root)
    try:
        imagetool.cli("create", "--name", name, imagetool.IMAGE, check=True)
        imagetool.cli("export", "-o", tar, name, check=True)
        subprocess.run(["tar", "-C", root, "--no-same-owner", "-xf", tar], check=True)
        os.unlink(tar)
        yield root
    finally:
        imagetool.cli("rm", "-f", name)
        shutil.rmtree(d, ignore_errors=True)
