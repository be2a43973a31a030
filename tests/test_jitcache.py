"""Numba's cache stamped with the Numba modules beside a kernel (``accelsim.jitcache``)."""

import os
import subprocess
import sys
import textwrap

from accelsim import jitcache

HELPER = "from numba import njit\n\n\n@njit(inline='always')\ndef helper():\n    return {value}\n"
KERNEL = textwrap.dedent("""
    import os
    {install}
    from numba import njit

    from {pkg}.helper import helper


    @njit(cache=True)
    def kernel():
        return helper()
""")


def _package(root, name: str, install: bool, value: int) -> None:
    pkg = root / name
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text(HELPER.format(value=value))
    line = "from accelsim.jitcache import install; install(os.path.dirname(__file__))" if install else ""
    (pkg / "kernel.py").write_text(KERNEL.format(install=line, pkg=name))


def _run(root, name: str) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.getcwd()] + sys.path))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", f"from {name}.kernel import kernel; print(kernel())"], env=env,
                         capture_output=True, text=True, check=True, cwd=root)
    return int(out.stdout.strip())


def test_a_changed_helper_recompiles_the_cached_kernel_that_inlines_it(tmp_path):
    """A cached kernel inlining a helper from another module: after only the helper's file changes,
    plain Numba loads the kernel's stale machine code (the old helper's value) — the hazard — while
    a kernel in an installed folder is compiled again and returns the new value."""
    for name, install in (("plain_pkg", False), ("stamped_pkg", True)):
        _package(tmp_path, name, install, 1)
        assert _run(tmp_path, name) == 1
        assert _run(tmp_path, name) == 1  # loaded from the cache
        (tmp_path / name / "helper.py").write_text(HELPER.format(value=2))
    assert _run(tmp_path, "plain_pkg") == 1  # Numba's own stamp: the kernel's file did not change
    assert _run(tmp_path, "stamped_pkg") == 2


def test_datapath_kernels_are_stamped_with_their_folder():
    from accelsim.datapath import kernels

    folder = os.path.dirname(kernels.__file__)
    locator = kernels.maxpool._cache._impl.locator
    assert type(locator).__name__.startswith("FolderStamped")
    own, digest = locator.get_source_stamp()
    assert digest == jitcache.folder_digest(folder)
    before = jitcache.folder_digest(folder)
    jitcache.install(folder)  # idempotent: no second wrapper
    from numba.core import caching
    names = [c.__name__ for c in caching.CacheImpl._locator_classes]
    assert len(names) == len(set(names))
    assert jitcache.folder_digest(folder) == before
