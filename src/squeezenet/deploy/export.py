"""Export a model to the files deployment runtimes load: ONNX, TorchScript, OpenVINO IR,
ExecuTorch ``.pte`` (XNNPACK delegate), LiteRT ``.tflite``, ncnn ``.param`` + ``.bin``.

Every export is validated before it replaces the target: ONNX by ``onnx.checker`` (full
check, with shape inference); all formats are meant to be compared with eager PyTorch on real
images through :func:`compare_outputs`. Writes are atomic (temp file in the target folder,
then ``os.replace``), so an interrupted export never leaves a truncated model behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import atomic_path, write_text
from .formats import EXPORT_FORMATS, export_format, formats_with, listed, resolve

#: Export formats and the file suffix each writes (from :data:`.formats.EXPORT_FORMATS`).
FORMATS = {name: f.suffix for name, f in EXPORT_FORMATS.items()}

#: Formats whose description travels beside the file (:func:`sidecar_path`).
SIDECAR_FORMATS = tuple(formats_with("sidecar"))


def _example_input(model: nn.Module, input_size: int) -> torch.Tensor:
    smallest = getattr(model, "min_input_size", 1)
    if input_size < smallest:
        # Checked here, where every format starts: the exporters fail on it with tracebacks.
        raise ValueError(
            f"image size {input_size} is below this model's smallest input, {smallest} px "
            "(--image-size)"
        )
    in_channels = getattr(getattr(model, "spec", None), "in_channels", 3)
    return torch.zeros(1, in_channels, input_size, input_size)


def check_onnx(path: str | os.PathLike) -> None:
    """``onnx.checker`` with full shape inference; raises ``ValueError`` naming the file."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as e:
        raise ValueError(f"{path}: the exported ONNX graph is invalid: {e}") from None


def set_description(proto, description: dict) -> None:
    """Put ``description`` (a ``ModelInfo.to_dict()``) into an ONNX model's metadata under
    :data:`squeezenet.lite.graph.METADATA_KEY` (the key ``.pth`` files use too), replacing
    one already there."""
    from ..lite.graph import METADATA_KEY

    kept = [e for e in proto.metadata_props if e.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(description, separators=(",", ":"))


def describe_onnx(path: str | os.PathLike, description: dict) -> Path:
    """:func:`set_description` on an ONNX file, rewritten atomically."""
    import onnx

    path = Path(path)
    proto = onnx.load(str(path))
    set_description(proto, description)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    input_size: int = 224,
    opset: int | None = None,
    description: dict | None = None,
    optimize: bool = True,
) -> Path:
    """One self-contained ``.onnx`` file (weights inside), input ``input`` with a dynamic
    batch dimension, output ``logits``; ``description`` (a ``ModelInfo.to_dict()``) goes into
    its metadata, so that ``predict -w file.onnx`` knows the classes and preprocessing."""
    path = Path(path)
    model = model.eval().cpu()
    x = _example_input(model, input_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The dynamo exporter (torch.export) is torch's supported path; its progress chatter
        # goes to stdout, which would corrupt `--json` output, hence the redirect.
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            torch.onnx.export(
                model,
                (x,),
                str(tmp),
                dynamo=True,
                external_data=False,
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                verbose=False,
                optimize=optimize,
            )
        if description is not None:
            describe_onnx(tmp, description)
        check_onnx(tmp)
        if opset is not None:
            _check_opset(tmp, path, opset)
    return path


def _check_opset(tmp: Path, path: Path, opset: int) -> None:
    """The exporter falls back to its own opset when it cannot convert: a file at another
    opset than the one asked for is an error, never written."""
    import onnx

    model = onnx.load(str(tmp), load_external_data=False)
    got = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if got != opset:
        raise ValueError(f"{path}: the exporter wrote ONNX opset {got}, not --opset {opset}")


#: An initializer left in a weightless graph holds at most this many values: a shape or a
#: scalar, never a weight.
_MAX_CONSTANT = 64


def export_weightless(
    model: nn.Module,
    path: str | os.PathLike,
    input_size: int = 224,
    opset: int | None = None,
    description: dict | None = None,
) -> Path:
    """:func:`export_onnx`'s graph without its weights, for :mod:`squeezenet.lite`: each
    state_dict tensor's initializer keeps its name (the state_dict key), type and shape, and
    reads from ``WEIGHTS_LOCATION`` instead of holding data. ``description`` (a
    ``ModelInfo.to_dict()``) goes into the graph's metadata. The exporter's own metadata
    (source lines and paths of this machine: most of the bytes) is dropped."""
    import onnx

    path = Path(path)
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory(prefix="squeezenet-export-") as tmpdir:
        # Unoptimised: the exporter's optimiser merges equal initializers (zero biases of
        # the same shape), which would leave a state_dict tensor without its own name; ONNX
        # Runtime optimises the graph when it loads it anyway.
        full = export_onnx(model, Path(tmpdir) / "model.onnx", input_size, opset, optimize=False)
        proto = onnx.load(str(full))
    strip_weights(proto, state)
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del proto.graph.metadata_props[:]  # torch.export's signature, for PyTorch's own tools
    del proto.graph.value_info[:]  # intermediate shapes, which ONNX Runtime infers
    if description is not None:
        set_description(proto, description)
    # No onnx.checker here: the full graph passed it in export_onnx, stripping changes only
    # initializer data, and the checker would look for the placeholders' data file.
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return path


def strip_weights(proto, state: dict[str, np.ndarray]) -> None:
    """Turn the initializer of every ``state`` tensor into a placeholder, in place. The
    exporter must have kept each tensor as is under its state_dict key (the name the
    ``.sqz`` gives it): a renamed, folded or transformed one raises ``ValueError``, as does
    any other initializer large enough to be a weight."""
    from onnx import TensorProto, numpy_helper

    from ..lite.graph import WEIGHTS_LOCATION

    initializers = {t.name: t for t in proto.graph.initializer}
    for key, array in state.items():
        t = initializers.get(key)
        if t is None:
            raise ValueError(
                f"the ONNX graph has no initializer {key!r} (the exporter renamed, folded or "
                "dropped it): a .sqz could not fill it"
            )
        if not np.array_equal(numpy_helper.to_array(t), array):
            raise ValueError(f"the ONNX initializer {key!r} is not the state_dict's tensor")
        stripped = TensorProto(name=t.name, data_type=t.data_type, dims=t.dims)
        stripped.data_location = TensorProto.EXTERNAL
        stripped.external_data.add(key="location", value=WEIGHTS_LOCATION)
        t.CopyFrom(stripped)
    for t in proto.graph.initializer:
        if t.name not in state and np.prod(t.dims, dtype=np.int64) > _MAX_CONSTANT:
            raise ValueError(
                f"the ONNX initializer {t.name!r} holds {np.prod(t.dims):,} values but is no "
                "state_dict tensor: the graph would carry weights"
            )


def export_torchscript(model: nn.Module, path: str | os.PathLike, input_size: int = 224) -> Path:
    """A traced TorchScript module (``torch.jit.load``-able without this package). Tracing
    rather than scripting: SqueezeNet's forward has no data-dependent control flow, and the
    input-size check is skipped while tracing."""
    path = Path(path)
    model = model.eval().cpu()
    x = _example_input(model, input_size)
    with atomic_path(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        # No check_trace re-run: callers compare the saved file's outputs (compare_outputs).
        traced = torch.jit.trace(model, x, check_trace=False)
        torch.jit.save(traced, str(tmp))
    return path


def export_openvino(
    onnx_path: str | os.PathLike, path: str | os.PathLike, description: dict | None = None
) -> Path:
    """OpenVINO IR (``.xml`` + ``.bin``) converted from an ONNX file, weights kept in fp32
    (OpenVINO's default would halve them to fp16); ``description`` goes into the model's
    rt_info (the converter does not carry ONNX metadata over)."""
    import openvino as ov

    from ..lite.graph import METADATA_KEY

    path = Path(path).with_suffix(".xml")
    path.parent.mkdir(parents=True, exist_ok=True)
    ir = ov.convert_model(str(onnx_path))
    if description is not None:
        ir.set_rt_info(json.dumps(description, separators=(",", ":")), [METADATA_KEY])
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmpdir:
        tmp_xml = Path(tmpdir) / path.name
        ov.save_model(ir, str(tmp_xml), compress_to_fp16=False)
        # .bin first: an .xml never points at a missing or stale .bin.
        os.replace(tmp_xml.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(tmp_xml, path)
    return path


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the description of an ExecuTorch, LiteRT or ncnn file lives: ``<file>.json``
    beside it. A ``.pte`` has no metadata field for free text (its named data and constant
    methods are tensors and numbers for the runtime), an ncnn ``.param`` none at all; a
    ``.tflite`` has metadata buffers, but writing one means rebuilding the flatbuffer, and one
    small file serves all three alike."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def write_sidecar(path: str | os.PathLike, precision: str, description: dict | None) -> Path:
    """Write :func:`sidecar_path` for ``path``: ``{"precision": ..., "model": description}``
    (``description``: a ``ModelInfo.to_dict()``, or None)."""
    sidecar = sidecar_path(path)
    write_text(
        sidecar, json.dumps({"precision": precision, "model": description}, separators=(",", ":"))
    )
    return sidecar


def _lower_to_executorch(exported, path: Path) -> None:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    with atomic_path(path) as tmp:
        tmp.write_bytes(program.to_executorch().buffer)


def _pt2e_int8(graph: nn.Module, quantizer, calibration: torch.Tensor, fold: bool = True):
    """PT2E static INT8 of an exported ``graph`` (traced at batch 1): prepared for
    ``quantizer``, its observers fed the calibration images one per call (the batch the graph
    was traced at), then converted (quantized weights folded into constants with ``fold``)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(graph, quantizer)
    for image in calibration:
        prepared(image[None])
    return convert_pt2e(prepared, fold_quantize=fold)


def export_executorch(
    model: nn.Module,
    path: str | os.PathLike,
    input_size: int = 224,
    calibration: torch.Tensor | None = None,
    description: dict | None = None,
) -> Path:
    """An ExecuTorch program (``.pte``) with every op delegated to XNNPACK. fp32, or with
    ``calibration`` (a preprocessed float batch of real images) INT8 through PT2E: XNNPACK's
    quantizer, symmetric with per-channel weights, its observers fed the calibration batch.

    The program takes a batch of one image: it runs one image per call (the callers loop).
    A dynamic batch lowers too, but ExecuTorch plans its memory ahead for the largest batch
    the program accepts (one device-sized buffer per bound), and a batch beyond the bound
    fails at run time; batch 1 is what a device runs.
    ``description`` (a ``ModelInfo.to_dict()``) and the precision go to
    :func:`sidecar_path`."""
    path = Path(path)
    model = model.eval().cpu()
    x = _example_input(model, input_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        exported = torch.export.export(model, (x,))
        if calibration is not None:
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )

            quantizer = XNNPACKQuantizer().set_global(
                get_symmetric_quantization_config(is_per_channel=True)
            )
            quantized = _pt2e_int8(exported.module(), quantizer, calibration)
            exported = torch.export.export(quantized, (x,))
        _lower_to_executorch(exported, path)
    write_sidecar(path, "fp32" if calibration is None else "int8", description)
    return path


def export_litert(
    model: nn.Module,
    path: str | os.PathLike,
    input_size: int = 224,
    calibration: torch.Tensor | None = None,
    description: dict | None = None,
) -> Path:
    """A LiteRT (TFLite) flatbuffer converted by ``litert_torch``, input NCHW as in PyTorch.
    fp32, or with ``calibration`` (a preprocessed float batch of real images) static INT8
    through PT2E: ``litert_torch``'s quantizer, symmetric with per-channel weights, its
    observers fed the calibration batch. The INT8 file takes and returns int8 tensors (its
    runner quantizes the input and dequantizes the logits with the tensors' scales).

    Exported at batch 1, like the ExecuTorch program: the runner resizes the input for a
    larger batch. ``description`` (a ``ModelInfo.to_dict()``) and the precision go to
    :func:`sidecar_path`."""
    import litert_torch

    path = Path(path)
    model = model.eval().cpu()
    x = _example_input(model, input_size)
    # The converter reports its progress on stdout, which would corrupt `--json` output.
    with (
        warnings.catch_warnings(),
        torch.no_grad(),
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
    ):
        warnings.simplefilter("ignore")
        if calibration is None:
            converted = litert_torch.convert(model, (x,))
        else:
            from litert_torch.quantize.pt2e_quantizer import (
                PT2EQuantizer,
                get_symmetric_quantization_config,
            )
            from litert_torch.quantize.quant_config import QuantConfig

            quantizer = PT2EQuantizer().set_global(
                get_symmetric_quantization_config(is_per_channel=True)
            )
            graph = torch.export.export(model, (x,)).module()
            # Unfolded: the converter reads the quantize ops to give the file its int8 tensors.
            quantized = _pt2e_int8(graph, quantizer, calibration, fold=False)
            converted = litert_torch.convert(
                quantized, (x,), quant_config=QuantConfig(pt2e_quantizer=quantizer)
            )
        with atomic_path(path) as tmp:
            converted.export(str(tmp))
    write_sidecar(path, "fp32" if calibration is None else "int8", description)
    return path


def ncnn_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``.param`` (graph) and ``.bin`` (weights) of an ncnn model named ``path``: a name
    not ending in ``.param`` gets it appended (``sq11.ncnn`` -> ``sq11.ncnn.param``), and
    the ``.bin`` is the ``.param``'s name with ``.bin`` instead."""
    path = Path(path)
    param = path if path.suffix.lower() == ".param" else path.with_name(path.name + ".param")
    return param, param.with_suffix(".bin")


def export_ncnn(
    model: nn.Module,
    path: str | os.PathLike,
    input_size: int = 224,
    description: dict | None = None,
    fp16: bool = False,
) -> Path:
    """An ncnn model (``.param`` + ``.bin``, see :func:`ncnn_paths`) converted by pnnx from
    the traced model, weights fp32 (pnnx's default would store them as fp16) or with
    ``fp16`` fp16. The graph takes one image of any size (the runtime has no batch
    dimension: callers loop). ``description`` and the precision go to
    :func:`sidecar_path` of the ``.param``. Returns the ``.param``."""
    import pnnx

    param, weights = ncnn_paths(path)
    model = model.eval().cpu()
    x = _example_input(model, input_size)
    # The pnnx binary writes a TorchScript copy, pnnx's own graph, ONNX and Python files
    # beside the .param: all of them stay in a temporary folder, only the pair is kept.
    with tempfile.TemporaryDirectory(prefix="squeezenet-ncnn-") as tmpdir:
        tmp = Path(tmpdir)
        traced = export_torchscript(model, tmp / "model.pt", input_size)
        # The binary, not pnnx.export: that one ignores the converter's exit status and
        # then imports the Python module it generated.
        shape = ",".join(map(str, x.shape))
        command = [pnnx.EXEC_PATH, str(traced), f"inputshape=[{shape}]f32", "device=cpu"]
        command += [f"fp16={int(fp16)}", "ncnnparam=model.param", "ncnnbin=model.bin"]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        made = tmp / "model.param", tmp / "model.bin"
        if done.returncode != 0 or not all(f.is_file() for f in made):
            last = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ValueError(
                f"{param}: pnnx could not convert the model (exit status {done.returncode}: "
                + " / ".join(last)
                + ")"
            )
        # .bin first: a .param never points at a missing or stale .bin.
        for source, target in ((made[1], weights), (made[0], param)):
            with atomic_path(target) as out:
                shutil.copyfile(source, out)
    write_sidecar(param, "fp16" if fp16 else "fp32", description)
    return param


def export_model(
    model: nn.Module,
    path: str | os.PathLike,
    fmt: str,
    input_size: int = 224,
    int8_calibration: torch.Tensor | None = None,
    opset: int | None = None,
    description: dict | None = None,
    fp16: bool = False,
) -> Path:
    """Export ``model`` as ``fmt`` (one of :data:`FORMATS`), by its record's exporter.

    With ``int8_calibration`` (a preprocessed float batch of real images) the ONNX and
    OpenVINO exports are post-training static INT8 (see :mod:`.quantize_int8`), the ExecuTorch
    and LiteRT ones PT2E INT8 (:func:`export_executorch`, :func:`export_litert`).
    ``description`` (a ``ModelInfo.to_dict()``) goes into ONNX and OpenVINO files, and beside
    ExecuTorch, LiteRT and ncnn ones. ``fp16``: ncnn weights stored as fp16 (ncnn only).
    """
    record = export_format(fmt)
    if fp16 and not record.fp16:
        names = listed(formats_with("fp16"))
        raise ValueError(f"fp16 weights are available for the {names} format only")
    if int8_calibration is not None and not record.int8:
        names = listed(formats_with("int8"))
        raise ValueError(record.no_int8 or f"INT8 export is available for the {names} formats only")
    if not record.export:
        raise ValueError(f"the {fmt} format is not a model file (squeezenet.api.export makes it)")
    return resolve(record.export)(
        model,
        Path(path),
        input_size=input_size,
        calibration=int8_calibration,
        opset=opset,
        description=description,
        fp16=fp16,
    )


# The exporters the format table names (:attr:`.formats.ExportFormat.export`): one signature,
# each taking the options its format has.


def to_onnx(model, path: Path, *, input_size, calibration, opset, description, fp16) -> Path:
    """:func:`export_onnx`, or with ``calibration`` its static INT8 graph."""
    if calibration is None:
        return export_onnx(model, path, input_size, opset, description)
    with tempfile.TemporaryDirectory(prefix="squeezenet-export-") as tmpdir:
        from .quantize_int8 import quantize_onnx

        fp32 = export_onnx(model, Path(tmpdir) / "model.onnx", input_size, opset)
        quantize_onnx(fp32, path, calibration, model)
    if description is not None:
        describe_onnx(path, description)
    return path


def to_openvino(model, path: Path, *, input_size, calibration, opset, description, fp16) -> Path:
    """:func:`export_openvino` of the ONNX graph (its static INT8 one with ``calibration``)."""
    with tempfile.TemporaryDirectory(prefix="squeezenet-export-") as tmpdir:
        onnx_path = export_onnx(model, Path(tmpdir) / "model.onnx", input_size, opset)
        if calibration is not None:
            from .quantize_int8 import quantize_onnx

            target = Path(tmpdir) / "model-int8.onnx"
            onnx_path = quantize_onnx(onnx_path, target, calibration, model)
        return export_openvino(onnx_path, path, description)


def to_torchscript(model, path: Path, *, input_size, calibration, opset, description, fp16):
    """:func:`export_torchscript` (a traced module holds no description)."""
    return export_torchscript(model, path, input_size)


def to_executorch(model, path: Path, *, input_size, calibration, opset, description, fp16):
    """:func:`export_executorch`."""
    return export_executorch(model, path, input_size, calibration, description)


def to_litert(model, path: Path, *, input_size, calibration, opset, description, fp16) -> Path:
    """:func:`export_litert`."""
    return export_litert(model, path, input_size, calibration, description)


def to_ncnn(model, path: Path, *, input_size, calibration, opset, description, fp16) -> Path:
    """:func:`export_ncnn`."""
    return export_ncnn(model, path, input_size, description, fp16)


@torch.inference_mode()
def compare_outputs(
    reference: Callable[[torch.Tensor], torch.Tensor],
    candidate: Callable[[torch.Tensor], torch.Tensor],
    batch: torch.Tensor,
) -> dict:
    """Run both on the same batch: the max absolute logit difference and how many rows
    agree on the top-1 class."""
    a = torch.as_tensor(reference(batch)).float()
    b = torch.as_tensor(candidate(batch)).float()
    if a.shape != b.shape:
        raise ValueError(f"output shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return {
        "max_abs_diff": float((a - b).abs().max()),
        "n": len(a),
        "top1_agree": int((a.argmax(1) == b.argmax(1)).sum()),
    }


@torch.inference_mode()
def agreement_on_images(
    reference: Callable[[torch.Tensor], torch.Tensor],
    candidate: Callable[[torch.Tensor], torch.Tensor],
    images: Sequence[tuple[Path, int | None]],
    preprocess: Callable,
    batch_size: int = 32,
    on_skip: Callable[[str], None] | None = None,
) -> dict:
    """Top-1 of both on every image (``(path, label or None)``): ``n``, ``top1_agree`` and,
    when every image is labelled, how many each gets right (``reference_correct``,
    ``candidate_correct``). Unreadable images are counted in ``skipped`` (named to
    ``on_skip``)."""
    from ..data import ImageError, load_image

    agree = n = skipped = 0
    correct = [0, 0]
    labelled = all(label is not None for _, label in images)
    for start in range(0, len(images), batch_size):
        inputs, labels = [], []
        for path, label in images[start : start + batch_size]:
            try:
                inputs.append(preprocess(load_image(path)))
            except ImageError as e:
                skipped += 1
                if on_skip is not None:
                    on_skip(str(e))
                continue
            labels.append(-1 if label is None else label)
        if not inputs:
            continue
        batch = torch.stack(inputs)
        a = torch.as_tensor(reference(batch)).float().argmax(1)
        b = torch.as_tensor(candidate(batch)).float().argmax(1)
        target = torch.tensor(labels)
        n += len(batch)
        agree += int((a == b).sum())
        correct[0] += int((a == target).sum())
        correct[1] += int((b == target).sum())
    out = {"n": n, "top1_agree": agree, "skipped": skipped, "labelled": labelled}
    if labelled:
        out.update(reference_correct=correct[0], candidate_correct=correct[1])
    return out
