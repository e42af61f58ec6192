"""Coverage-guided fuzzing of the readers of untrusted input, with atheris (libFuzzer).

    python tests/fuzz/run.py sqz --seconds 600  # or: net, pth, safetensors, image, lite, onnx_meta

The corpus lives in $SQUEEZENET_FUZZ_CORPUS/<target> (default ~/.cache/squeezenet-fuzz), so a
run continues where the last one stopped. A failure is any exception other than the reader's
documented error (libFuzzer saves the input as crash-*), an input that runs more than 2 s
(timeout-*), or an input that raises the process's peak memory more than 256 MiB over what
it held before that input (measured around each input: the engine's own corpus and
coverage tables grow the process slowly over a long run, and are not the input's doing).
The address space is limited too, so an allocation the limits missed ends as a MemoryError,
a failure, not a frozen machine. Extra arguments go to libFuzzer (-runs=N, ...)."""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["squeezenet"]):
    import squeezenet.data.images  # noqa: F401
    import squeezenet.data.transforms  # noqa: F401
    import squeezenet.deploy.backends  # noqa: F401
    import squeezenet.lite.graph  # noqa: F401
    import squeezenet.lite.model  # noqa: F401
    import squeezenet.lite.preprocess  # noqa: F401
    import squeezenet.models.squeezenet  # noqa: F401
    import squeezenet.weights.deep_compression  # noqa: F401
    import squeezenet.weights.loading  # noqa: F401
    import squeezenet.weights.safety  # noqa: F401
    import squeezenet.weights.sqz.bits  # noqa: F401
    import squeezenet.weights.sqz.codec  # noqa: F401
    import squeezenet.weights.sqz.entropy  # noqa: F401
    import squeezenet.weights.sqz.fileformat  # noqa: F401
    import squeezenet.weights.sqz.huffman  # noqa: F401
    import squeezenet.weights.sqz.modeldesc  # noqa: F401

sys.path.insert(0, str(Path(__file__).parent))
from mutators import STRUCTURED, fix_sqz_checksum  # noqa: E402
from targets import TARGETS, corpus_dir, seeds  # noqa: E402

MEMORY_GROWTH_MB = 256
ADDRESS_SPACE_GROWTH = 4 << 30  # over the address space after start-up (torch maps a lot)


def _rss_mb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class MemoryGrowth(Exception):
    """An input made the process's peak memory grow past the limit."""


def guarded(target, artifacts: str):
    """``target`` that fails on an input raising peak memory more than the limit. An input
    that ends in MemoryError is saved here first (under the address-space limit the engine
    may fail to save it itself)."""

    def run(data: bytes) -> None:
        before, peak_before = _rss_mb(), _peak_mb()
        try:
            target(data)
        except MemoryError:
            name = f"{artifacts}memory-{hashlib.sha1(data).hexdigest()}"
            with open(name, "wb") as f:
                f.write(data)
            raise
        peak = _peak_mb()
        if peak > peak_before and peak - before > MEMORY_GROWTH_MB:
            raise MemoryGrowth(
                f"peak memory {peak} MiB, {peak - before} MiB over the input's start"
            )

    return run


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", choices=sorted(TARGETS))
    p.add_argument("--seconds", type=int, default=60, help="how long to run")
    p.add_argument("--corpus", default=None, help="corpus folder (default: see above)")
    args, extra = p.parse_known_args()
    corpus = Path(args.corpus) if args.corpus else corpus_dir(args.target)
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for i, data in enumerate(seeds(args.target)):
            (corpus / f"seed-{i}").write_bytes(data)
    prefixes = [a.split("=", 1)[1] for a in extra if a.startswith("-artifact_prefix=")]
    target = guarded(TARGETS[args.target], prefixes[-1] if prefixes else "./")
    structured = STRUCTURED.get(args.target)

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if structured is not None and rng.random() < 0.3:
            return structured(data, rng)[:max_size]
        out = atheris.Mutate(data, max_size)
        # Most byte edits of a .sqz file would only fail its checksum.
        sqz = args.target in ("sqz", "lite")
        return fix_sqz_checksum(out) if sqz and rng.random() < 0.8 else out

    for data in seeds(args.target):  # warm up: imports, caches, the first model builds
        target(data)
    baseline = _rss_mb()
    limit = _vm_bytes() + ADDRESS_SPACE_GROWTH
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    argv = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={args.seconds}",
        "-timeout=2",
        f"-rss_limit_mb={baseline + 4096}",  # a backstop; the per-input check is above
        "-max_len=65536",
        "-print_final_stats=1",
        *extra,
    ]
    print(f"fuzz {args.target}: baseline {baseline} MiB, corpus {corpus}", file=sys.stderr)
    atheris.Setup(argv, target, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
