"""Record how each deployment runtime scores an exported model against PyTorch fp32
(docs/results/runtimes.json and the table in docs/results/runtimes.md).

    python scripts/record_runtimes.py --weights squeezenet1_1-fp16.pth \
        --calibration photos-unlabeled --data imagenet-sample-1000 imagenette2/val

``--formats`` limits the run to some formats and ``--merge`` puts their rows into an existing
``--out`` (replacing the rows of the same runtime and precision), so that runtimes whose
extras cannot share one environment (``executorch`` and ``litert``) are recorded side by side.

Every format and precision the installed runtimes support is exported with
``squeezenet export`` (INT8 calibrated on ``--calibration``, never on the scored photos), then
run in its own runtime on every photo of each ``--data`` folder as a 1000-way ImageNet
classifier: top-1, top-5, and how many top-1 predictions differ from PyTorch eager fp32 on
the same pixels. Photos are decoded once, in full (``--decode exact``), with the model's
preprocessing, so every runtime sees identical input.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from squeezenet import create_model
from squeezenet.cli import main as cli
from squeezenet.data import load_image, scan_folder
from squeezenet.deploy.backends import open_exported
from squeezenet.deploy.export import FORMATS, sidecar_path
from squeezenet.weights import preprocess_for

ROOT = Path(__file__).resolve().parents[1]
# (format, INT8?, modules its export and runtime need, runtime that runs it)
VARIANTS = [
    ("onnx", False, ("onnxruntime",), "onnxruntime"),
    ("onnx", True, ("onnxruntime",), "onnxruntime"),
    ("openvino", False, ("openvino",), "openvino"),
    ("openvino", True, ("openvino",), "openvino"),
    ("executorch", False, ("executorch",), "executorch"),
    ("executorch", True, ("executorch",), "executorch"),
    ("litert", False, ("litert_torch", "ai_edge_litert"), "litert"),
    ("litert", True, ("litert_torch", "ai_edge_litert"), "litert"),
    ("ncnn", False, ("pnnx", "ncnn"), "ncnn"),
]


def file_bytes(path: Path) -> int:
    """The bytes a device receives: the file, plus the weights file beside an OpenVINO
    ``.xml`` or ncnn ``.param`` (sidecar descriptions not counted)."""
    extra = {".xml": ".bin", ".param": ".bin"}.get(path.suffix)
    size = path.stat().st_size
    if extra:
        size += path.with_suffix(extra).stat().st_size
    return size


def decode(folder: str, preprocess) -> tuple[torch.Tensor, torch.Tensor]:
    images = scan_folder(folder, "imagenet")
    x = torch.stack([preprocess.crop_uint8(load_image(p)) for p, _ in images.samples])
    return x, torch.tensor([label for _, label in images.samples])


def run(fn, x: torch.Tensor, preprocess, batch_size: int = 50) -> torch.Tensor:
    return torch.cat(
        [
            torch.as_tensor(fn(preprocess.normalize(x[i : i + batch_size]))).float()
            for i in range(0, len(x), batch_size)
        ]
    )


def scores(logits: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor) -> dict:
    top5 = logits.topk(5, 1).indices
    return {
        "top1": int((top5[:, 0] == labels).sum()),
        "top5": int((top5 == labels[:, None]).any(1).sum()),
        "changed": int((top5[:, 0] != reference.argmax(1)).sum()),
        "n": len(labels),
    }


def installed_versions() -> dict[str, str]:
    """The version of each runtime package installed (and of torch)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in (
        "torch",
        "onnxruntime",
        "openvino",
        "executorch",
        "litert-torch",
        "ai-edge-litert",
        "pnnx",
        "ncnn",
    ):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return found


def cpu_name(threads: int) -> str:
    """The CPU model and which of the instruction sets that decide INT8 arithmetic it has."""
    model, flags, seen = platform.processor() or platform.machine(), set(), {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            seen.setdefault(key, value)
    except OSError:
        pass
    if seen:
        model = f"{seen.get('model name', model)} (family {seen.get('cpu family')} model "
        model += f"{seen.get('model')})"
        flags = set(seen.get("flags", "").split())
    has = [name for flag, name in _ISA if flag in flags]
    lacks = [name for flag, name in _ISA if flag not in flags]
    isa = ", ".join(has) + (f"; no {', no '.join(lacks)}" if lacks and flags else "")
    return f"{model}: {isa}, {threads} threads" if flags else f"{model}, {threads} threads"


# /proc/cpuinfo flags that decide how INT8 dot products are computed (docs/deployment.md).
_ISA = [
    ("avx2", "AVX2"),
    ("avx512f", "AVX-512"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
]


def merged(record: dict, out: Path) -> dict:
    """``record``'s runtime rows put into the record already in ``out``, replacing the rows
    of the same runtime and precision; each added row names the machine it was measured on.
    The two must agree on the weights, calibration and PyTorch's own scores (the reference
    every "changed" count is taken against)."""
    old = json.loads(out.read_text())
    for key in ("weights", "calibration"):
        if old[key] != record[key]:
            raise SystemExit(f"{out} holds {key} {old[key]}, not {record[key]}: not merged")
    if old["rows"][0] != record["rows"][0]:
        raise SystemExit(f"{out}: PyTorch's scores differ from this run's: not merged")

    def key(row: dict) -> tuple[str, str, str]:
        return row["runtime"], row["format"], row["precision"]

    added = [{**r, "machine": record["machine"]} for r in record["rows"][1:]]
    kept = [r for r in old["rows"] if key(r) not in {key(r) for r in added}]
    return {**old, "versions": {**old["versions"], **record["versions"]}, "rows": kept + added}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--calibration", required=True, help="INT8 calibration photos")
    p.add_argument("--data", nargs="+", required=True, help="labelled ImageNet folders")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "docs" / "results" / "runtimes.json"))
    p.add_argument("--formats", nargs="+", default=None, help="these formats only")
    p.add_argument("--merge", action="store_true", help="add the rows to the --out record")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = create_model(weights=args.weights).eval()
    preprocess = preprocess_for(model.card.architecture, model)
    data = {
        Path(d).name if Path(d).name != "val" else "imagenette2/val": decode(d, preprocess)
        for d in args.data
    }
    rows = []
    reference = {}
    for name, (x, _) in data.items():
        with torch.inference_mode():
            reference[name] = run(model, x, preprocess)
    rows.append(
        {
            "runtime": "pytorch",
            "format": "state_dict",
            "precision": "fp32",
            "bytes": Path(model.card.source).stat().st_size,
            **{n: scores(reference[n], data[n][1], reference[n]) for n in data},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, int8, modules, runtime in VARIANTS:
            if args.formats is not None and fmt not in args.formats:
                continue
            missing = [m for m in modules if importlib.util.find_spec(m) is None]
            if fmt not in FORMATS or missing:
                print(f"skipped: {fmt}{' INT8' if int8 else ''} ({', '.join(missing)} missing)")
                continue
            path = Path(tmp) / f"model{'-int8' if int8 else ''}{FORMATS[fmt]}"
            argv = ["export", "-w", args.weights, "-f", fmt, "-o", str(path)]
            if int8:
                argv += ["--int8", "--calibration", args.calibration]
            t0 = time.time()
            if cli(argv) != 0:
                raise SystemExit(f"export failed: {' '.join(argv)}")
            exported = open_exported(path)
            fn = exported.runner(None, args.threads)
            row = {
                "runtime": runtime,
                "format": fmt,
                "precision": exported.precision,
                "bytes": file_bytes(path),
                "sidecar": sidecar_path(path).is_file(),
            }
            for n, (x, y) in data.items():
                row[n] = scores(run(fn, x, preprocess), y, reference[n])
            row["seconds"] = round(time.time() - t0, 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    record = {
        "weights": Path(args.weights).name,
        "calibration": Path(args.calibration).name,
        "protocol": "1000-way ImageNet top-1/top-5 on every photo of each folder, decoded in "
        "full with the model's preprocessing; changed = top-1 differs from PyTorch eager fp32",
        "machine": cpu_name(args.threads),
        "versions": installed_versions(),
        "rows": rows,
    }
    out = Path(args.out)
    if args.merge and out.is_file():
        record = merged(record, out)
    out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
