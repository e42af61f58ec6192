"""Which INT8 scheme holds on every x86 CPU: accuracy and batch-1 latency of the candidates,
each run as INT8 by ONNX Runtime and by OpenVINO, against fp32 and torchvision eager in the
same run (docs/deployment.md, "INT8").

    python benchmarks/int8_choice.py --weights squeezenet1_1-fp16.pth \\
        --calibration imagenet-sample-1000 --data imagenet-dev [--json OUT]

Candidates (all QDQ, per-channel symmetric weights, UINT8 activations with MinMax ranges
from the same 200 calibration photos, never the scored ones):

* ``u8s8``: int8 weights over the full range [-127, 127];
* ``u8s8-7bit``: int8 weights in [-64, 64] (ONNX Runtime's ``reduce_range``), nearest rounding;
* ``u8u8``: uint8 weights (ONNX Runtime runs uint8 x uint8 kernels);
* ``u8s8-7bit-gptq``: [-64, 64], GPTQ-rounded on the calibration photos (what ``export
  --int8`` writes).

Each file is scored three ways: ONNX Runtime's integer kernels as this CPU runs them,
OpenVINO's, and ONNX Runtime with graph optimisations off, which simulates Q/DQ in fp32 and so
gives what exact integer arithmetic gives (a CPU with VNNI computes exactly). The CPU's name
and whether it has AVX-512 VNNI are printed with the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from machine import cpu_info  # benchmarks/machine.py

from squeezenet import create_model
from squeezenet.data import load_image, sample_images, scan_folder
from squeezenet.deploy.export import export_model
from squeezenet.deploy.quantize_int8 import quantize_onnx, quantize_qdq
from squeezenet.weights import preprocess_for


def cpu_name() -> tuple[str, bool]:
    """The CPU's model name and whether it has AVX-512 VNNI."""
    name, flags = cpu_info()
    return name, "avx512_vnni" in flags


def quantize(kind: str, fp32: Path, out: Path, calibration: torch.Tensor, model) -> Path:
    if kind == "u8s8-7bit-gptq":
        return quantize_onnx(fp32, out, calibration, model)
    return quantize_qdq(
        fp32, out, calibration, reduce_range=kind == "u8s8-7bit", unsigned_weights=kind == "u8u8"
    )


def ort_session(path: Path, threads: int, exact: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if exact:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x})[0]


def openvino_model(path: Path, threads: int):
    import openvino as ov

    model = ov.Core().read_model(str(path))
    model.reshape([1, 3, 224, 224])  # static batch 1, as the bench's openvino backend compiles
    compiled = ov.Core().compile_model(
        model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
    )
    return lambda x: np.concatenate([compiled(x[i : i + 1])[0] for i in range(len(x))])


def scores(logits: np.ndarray, labels: torch.Tensor, reference: torch.Tensor) -> dict:
    out = torch.from_numpy(np.asarray(logits)).float()
    kl = torch.nn.functional.kl_div(
        out.log_softmax(1), reference.log_softmax(1), log_target=True, reduction="batchmean"
    )
    return {
        "top1": int((out.argmax(1) == labels).sum()),
        "changed": int((out.argmax(1) != reference.argmax(1)).sum()),
        "kl": round(float(kl), 5),
    }


def latency(fns: dict, x: np.ndarray, rounds: int = 10, calls: int = 20) -> dict[str, float]:
    """Median batch-1 ms of each, in interleaved rounds (a burst of load hits all alike)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        for _ in range(5):
            fn(x)
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(calls):
                start = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True)
    p.add_argument("--calibration", required=True, help="calibration photos (never --data)")
    p.add_argument("--data", required=True, help="labelled ImageNet folder to score on")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model = create_model("squeezenet1_1", weights=args.weights).eval()
    preprocess = preprocess_for("squeezenet1_1", model)
    images = scan_folder(args.data, "imagenet")
    x = torch.stack([preprocess(load_image(path)) for path, _ in images.samples])
    labels = torch.tensor([label for _, label in images.samples])
    with torch.no_grad():
        reference = torch.cat([model(chunk) for chunk in x.split(64)])
    calibration = sample_images(args.calibration, preprocess)  # 200, seed 0, as export --int8
    tv = torchvision.models.squeezenet1_1()
    tv.load_state_dict(model.state_dict())
    tv.eval()

    rows = [
        {"scheme": "fp32", "runtime": "pytorch", **scores(reference.numpy(), labels, reference)}
    ]
    timed = {"torchvision eager fp32": lambda a: tv(torch.from_numpy(a))}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_model(model, Path(tmp) / "fp32.onnx", "onnx")
        timed["onnxruntime fp32"] = ort_session(fp32, args.threads)
        for kind in ("u8s8", "u8s8-7bit", "u8u8", "u8s8-7bit-gptq"):
            start = time.perf_counter()
            path = quantize(kind, fp32, Path(tmp) / f"{kind}.onnx", calibration, model)
            seconds = time.perf_counter() - start
            runs = {
                "onnxruntime": ort_session(path, args.threads),
                "openvino": openvino_model(path, args.threads),
                "exact (simulated)": ort_session(path, args.threads, exact=True),
            }
            for runtime, fn in runs.items():
                logits = np.concatenate([fn(c.numpy()) for c in x.split(50)])
                row = {"scheme": kind, "runtime": runtime, **scores(logits, labels, reference)}
                rows.append(row | {"quantize_s": round(seconds, 1)})
                print(json.dumps(rows[-1]), flush=True)
            timed[f"onnxruntime {kind}"] = runs["onnxruntime"]
            timed[f"openvino {kind}"] = runs["openvino"]
        with torch.no_grad():
            ms = latency(timed, calibration[:1].numpy())
    base = ms["torchvision eager fp32"]
    name, vnni = cpu_name()
    print(f"\nCPU: {name} ({'with' if vnni else 'without'} AVX-512 VNNI), {args.threads} threads")
    print(f"{len(labels)} photos of {args.data}; fp32 top-1 {rows[0]['top1']}\n")
    print("| scheme | runtime | top-1 | changed | KL |")
    print("|---|---|---:|---:|---:|")
    for r in rows[1:]:
        print(f"| {r['scheme']} | {r['runtime']} | {r['top1']} | {r['changed']} | {r['kl']:.4f} |")
    print("\n| batch 1 | median ms | vs torchvision |\n|---|---:|---:|")
    for k, v in ms.items():
        print(f"| {k} | {v:.2f} | {base / v:.2f}x |")
    if args.json:
        record = {
            "cpu": name,
            "avx512_vnni": vnni,
            "threads": args.threads,
            "weights": Path(args.weights).name,
            "calibration": Path(args.calibration).name,
            "data": Path(args.data).name,
            "accuracy": rows,
            "batch1_ms": {k: round(v, 3) for k, v in ms.items()},
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
