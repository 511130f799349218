"""llama.cpp files that ship inside llama-cpp-python's source distribution, fetched on first use.

The sdist matching the installed llama-cpp-python carries the Qwen2 vocabulary GGUF and chat
template (for `scratch:` students) and llama.cpp's own HF-to-GGUF converter (for export). It is
obtained with pip into a cache outside any project (SLM_DISTILL_CACHE, default
~/.cache/slm-distill) and never committed.

    vocab = vendor_file("models/ggml-vocab-qwen2.gguf")
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

from slm_distill.tools.errors import DistillError, MissingDependency


def cache_root() -> Path:
    return Path(os.environ.get("SLM_DISTILL_CACHE", Path.home() / ".cache" / "slm-distill"))


def llama_cpp_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError as exc:
        raise MissingDependency("llama-cpp-python", "llama") from exc


def sdist_path(version: str) -> Path:
    folder = cache_root() / "sdist"
    path = folder / f"llama_cpp_python-{version}.tar.gz"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"Fetching llama-cpp-python {version} source (once) into {folder}", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "-d", str(folder), f"llama-cpp-python=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not path.is_file():
            raise DistillError(f"Could not fetch the llama-cpp-python {version} sources with pip "
                               f"({done.stderr.strip()[-300:]}). Put {path.name} in {folder}.")
    return path


def vendor_dir(version: str | None = None) -> Path:
    """The extracted `vendor/llama.cpp` folder of the sdist (extracted once)."""
    version = version or llama_cpp_version()
    root = cache_root() / f"llama-cpp-python-{version}"
    target = root / "vendor" / "llama.cpp"
    marker = root / ".extracted"
    if not marker.is_file():
        prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
        wanted = ("models/ggml-vocab-", "models/templates/", "convert_hf_to_gguf.py",
                  "conversion/", "gguf-py/")
        with tarfile.open(sdist_path(version)) as tar:
            for member in tar.getmembers():
                rel = member.name[len(prefix):] if member.name.startswith(prefix) else None
                if rel and rel.startswith(wanted) and (member.isfile() or member.isdir()):
                    member.name = rel
                    tar.extract(member, target, filter="data")
        marker.write_text(version)
    return target


def vendor_file(relative: str, version: str | None = None) -> Path:
    path = vendor_dir(version) / relative
    if not path.exists():
        raise DistillError(f"{relative} is missing from the llama-cpp-python sources at {path}.")
    return path
