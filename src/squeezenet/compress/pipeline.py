"""The Deep Compression pipeline (Han et al., ICLR 2016, Figure 1): prune -> fine-tune ->
quantize (weight sharing) -> fine-tune the codebooks -> entropy-code into one file.

Fine-tuning is done by a *tuner*: retraining with labels (retrain.py, as the paper does) or,
without labels, distillation from the uncompressed model on unlabeled calibration images
(distill.py); with neither the pipeline is post-training only. ``lossless`` re-encodes
weights that are already pruned and weight-shared (Han's release) without changing a bit.
"""

from __future__ import annotations

import copy
import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..pruning import (
    GRANULARITIES,
    GeometricScheduler,
    MagnitudeSparsifier,
    resolve_per_layer,
    target_densities,
)
from ..settings import SettingError, check_finite, setting, with_preset
from ..weights.sqz.codec import SharedTensor
from ..weights.sqz.entropy import default_coder
from ..weights.sqz.fileformat import CompressedModel, to_bytes
from ..weights.sqz.modeldesc import describe_model
from .adaround import adaround_quantize
from .distill import Calibration, Distillation
from .equalize import equalize
from .gptq import fisher_diagonal, gptq_quantize, grid_steps
from .presets import COMPRESS_PRESETS
from .quantize import Quantizer, parse_bits
from .report import Report
from .tuner import FineTune, Tuner

# The quantizers that round onto a uniform grid per layer whose step follows the Fisher
# information (`grid_scale`, `max_bytes`).
GRID_QUANTIZERS = ("gptq", "adaround", "nearest")


@dataclass(frozen=True)
class CompressConfig:
    """What to do; each field is the ``squeezenet compress`` flag of the same name, and a
    preset (:data:`.presets.COMPRESS_PRESETS`) is a set of values for some of them."""

    prune: str | float | dict = setting(
        "paper",
        "target densities: 'paper' (the SqueezeNet paper's Table 1 profile), 'none', one "
        "density for all layers (0.4), or 'pattern=density,...' over parameter names or fire "
        "aliases (fire9.squeeze.weight)",
    )
    prune_rounds: int = setting(1, "iterative pruning: reach the densities in this many rounds")
    prune_granularity: str = setting(
        "weight",
        "prune single weights by magnitude (Deep Compression) or whole k x k kernels by L2 "
        "norm (cheaper positions; 1x1 layers stay per weight)",
        choices=GRANULARITIES,
    )
    bits: str | int | dict = setting(
        8,
        "index bits per layer (codebook of 2**bits shared values): one number or "
        "'pattern=bits,...' (first match wins; unmatched layers stay float)",
    )
    finetune_steps: int = setting(0, "fine-tuning steps (batches) after each pruning round")
    codebook_steps: int = setting(
        0, "fine-tuning steps on the shared values (centroids, section 3.3) and biases"
    )
    lr: float = setting(
        1e-4,
        "learning rate after pruning (Adam for distillation, SGD with `data`, where ~1e-2 suits)",
    )
    codebook_lr: float = setting(1e-4, "centroid learning rate")
    batch_size: int = setting(32, "fine-tuning batch size", short="-b", metavar="N")
    distill_temperature: float = setting(
        2.0,
        "distillation temperature; lower than train's 4.0, as the teacher here is the "
        "same network uncompressed, whose outputs the student should match closely",
    )
    coder: str = setting(
        help="entropy coder (default: ans if constriction is installed, else huffman)",
        choices=("ans", "huffman"),
        factory=default_coder,
    )
    bias_dtype: str = setting(
        "float32", "storage of biases and other unshared tensors", choices=("float32", "float16")
    )
    seed: int = setting(0, "seed for sampling and fine-tuning")
    flip: bool = True  # mirror calibration images (not for data like digits)
    quantizer: str = setting(
        "kmeans",
        "weight sharing: 'kmeans' (Deep Compression section 3: 2**bits shared values per "
        "layer), 'gptq' (a uniform grid per layer, finer where the Fisher "
        "information is larger, GPTQ rounding on the `calibration` images; `grid_scale` sets "
        "the size) or 'adaround' (the same grids, each layer's rounding learned by AdaRound "
        "on its inputs' Gram matrix: slower, see `adaround_iterations`); 'nearest' rounds "
        "onto the same grids without calibration of the rounding (a baseline)",
        choices=("kmeans", "gptq", "adaround", "nearest"),
    )
    grid_scale: float = setting(
        0.024,
        "with a grid `quantizer` (gptq, adaround, nearest): grid step of a layer of typical "
        "sensitivity; larger = smaller file, less accurate",
    )
    max_bytes: int | None = setting(
        None,
        "with a grid `quantizer` (gptq, adaround, nearest): the largest file to write, in "
        "bytes; the grid scale is then chosen to fit (the finest grid whose file fits; "
        "`grid_scale` is ignored); default: no limit, `grid_scale` sets the grid",
        metavar="N",
    )
    bias_correction: bool = setting(
        False,
        "with `quantizer` gptq or adaround: let each layer's bias absorb the mean output "
        "shift that rounding its weights causes on the calibration images",
    )
    dense_target: bool = setting(
        False,
        "with `quantizer` gptq or adaround: make each layer reproduce what the uncompressed "
        "network computes there, correcting the error the rounded layers before it pass on "
        "(about twice the time of the calibration passes)",
    )
    adaround_iterations: int = setting(
        2000,
        "with `quantizer` adaround: optimisation steps per layer (each costs about "
        "2 * out * (in * k * k)**2 multiply-adds, whatever the number of images)",
        metavar="N",
    )
    adaround_regularizer: float = setting(
        100.0,
        "with `quantizer` adaround: weight of the term that drives every weight to round "
        "definitely up or down (relative to nearest rounding's output error); too weak and "
        "some stay undecided, which the final rounding at 0.5 then loses (on SqueezeNet 1.1, "
        "30 left a few undecided and 100 none, with a lower KL)",
    )
    adaround_lr: float = setting(3e-2, "with `quantizer` adaround: Adam learning rate")
    adaround_rate: float = setting(
        0.0,
        "with `quantizer` adaround: rate-aware rounding; the weight of the bits the entropy "
        "coder pays per weight against the output error (1: a bit per weight is worth all of "
        "nearest rounding's error); 0 ignores the bytes",
    )
    output_weighting: bool = setting(
        False,
        "with `quantizer` adaround: weigh each output channel's error by its weights' "
        "Fisher information, so that the channels the output depends on most get the most care",
    )
    equalize: bool = setting(
        False,
        "with `quantizer` gptq or adaround: first equalise the weight ranges of each pair of "
        "layers by cross-layer equalisation (Nagel et al., 2019; the network computes the "
        "same function), so that one grid per layer fits all its channels (SqueezeNets only)",
    )
    progress: bool = True  # progress bars of the fine-tuning stages

    def __post_init__(self) -> None:
        check_finite(self)


def lossless(
    state: dict[str, torch.Tensor],
    model_desc: dict,
    coder: str | None = None,
    meta: dict | None = None,
) -> CompressedModel:
    """Re-encode already pruned + weight-shared weights exactly: every conv / linear weight
    (>= 2 dims) becomes a SharedTensor of its distinct values, everything else is raw."""
    tensors: dict[str, SharedTensor | np.ndarray] = {}
    for name, t in state.items():
        array = t.detach().cpu().numpy()
        if t.dim() >= 2 and t.is_floating_point():
            if t.dtype != torch.float32:
                raise SettingError(
                    f"{name}: `lossless` needs float32 weights, got {t.dtype}", "lossless"
                )
            tensors[name] = SharedTensor.from_dense(array, name)
        else:
            tensors[name] = array
    return CompressedModel(model_desc, tensors, coder or default_coder(), meta or {})


def to_compressed(
    model: nn.Module,
    name: str,
    shared: dict[str, SharedTensor],
    config: CompressConfig,
    meta: dict | None = None,
) -> CompressedModel:
    tensors: dict[str, SharedTensor | np.ndarray] = {}
    raw_dtypes = {}
    for key, t in model.state_dict().items():
        if key in shared:
            tensors[key] = shared[key]
        else:
            array = t.detach().cpu().numpy()
            if t.is_floating_point():
                raw_dtypes[key] = config.bias_dtype
                # Round now, so that what is scored is exactly what the file holds.
                array = array.astype(config.bias_dtype).astype(array.dtype)
            tensors[key] = array
    return CompressedModel(
        describe_model(model, name), tensors, config.coder, meta or {}, raw_dtypes
    )


def compress(
    model: nn.Module,
    name: str,
    config: CompressConfig | None = None,
    tuner: Tuner | None = None,
    score: Callable[[nn.Module], float] | None = None,
    *,
    calibration: torch.Tensor | None = None,
    preset: str | None = None,
    meta: dict | None = None,
    **settings,
) -> tuple[CompressedModel, Report]:
    """Run the pipeline on ``model`` (modified in place); returns the file contents and the
    per-stage report. ``config`` or else the named ``preset`` with ``settings`` (fields of
    :class:`CompressConfig`) overriding it says what to do. ``tuner`` (e.g.
    ``LabelledRetraining``) fine-tunes after each stage; without one, the model distils
    itself on ``calibration``, a tensor of unlabeled inputs (which the gptq quantizer also
    needs). ``score(model)`` (e.g. top-1 on a validation set) is measured after every
    stage. ``meta`` is the metadata the file will carry, which ``max_bytes`` counts."""
    if config is None:
        config = with_preset(CompressConfig, COMPRESS_PRESETS, preset, **settings)
    elif preset is not None or settings:
        raise TypeError("give a config, or a preset and settings, not both")
    torch.manual_seed(config.seed)
    # Post-training (no fine-tuning steps) needs no teacher outputs.
    if (
        tuner is None
        and calibration is not None
        and (config.finetune_steps or config.codebook_steps)
    ):
        tuner = _self_distillation(model, calibration, config)
    report = Report(model, name, config.coder)

    def stage(label: str, **kw) -> None:
        report.stage(label, score(model) if score else None, **kw)

    stage("uncompressed")
    names = _prune(model, config, tuner, stage)
    quantizer, details = _quantize(model, name, names, calibration, config, meta or {})
    stage(details.pop("stage"), bits=quantizer.bits)
    report.stages[-1].update(details)
    if tuner is not None and config.codebook_steps:
        biases = [p for n, p in model.named_parameters() if n not in quantizer.codebooks]
        tuner.run(
            FineTune(
                model,
                quantizer.parameters() + biases,
                config.codebook_steps,
                config.codebook_lr,
                quantizer.accumulate_grads,
                quantizer.apply,
                desc="codebook",
                seed=config.seed + 1000,
                centroids=True,
            )
        )
        stage("codebook fine-tuned", bits=quantizer.bits)
    cm = to_compressed(model, name, quantizer.shared_tensors(), config)
    # Score exactly what the file holds (biases may have been rounded to float16).
    model.load_state_dict(cm.state_dict())
    report.stage("encoded", score(model) if score else None, cm)
    return cm, report


def _self_distillation(
    model: nn.Module, calibration: torch.Tensor, config: CompressConfig
) -> Distillation:
    """Fine-tuning toward the uncompressed model's own outputs on unlabeled ``calibration``."""
    teacher = copy.deepcopy(model).eval()
    return Distillation(
        Calibration(calibration, teacher, flip=config.flip),
        config.batch_size,
        config.distill_temperature,
        progress=config.progress,
    )


def _prune(
    model: nn.Module, config: CompressConfig, tuner: Tuner | None, stage: Callable
) -> list[str]:
    """Prune to ``config.prune`` in rounds, each followed by fine-tuning when there is a
    tuner; the zeros are then exact. Returns the names of the compressed weights."""
    try:
        targets = target_densities(model, config.prune)
    except ValueError as e:
        raise SettingError(f"`prune`: {e}", "prune") from None
    names = list(targets)
    if config.quantizer == "kmeans":
        try:  # now, not after minutes of pruning and fine-tuning
            resolve_per_layer(model, parse_bits(config.bits), names, None, require_match=True)
        except ValueError as e:
            raise SettingError(f"`bits`: {e}", "bits") from None
    sparsifier = MagnitudeSparsifier(model, config.prune_granularity)
    schedule = GeometricScheduler(sparsifier, targets, max(1, config.prune_rounds))
    params = [p for p in model.parameters() if p.requires_grad]
    tuned = tuner is not None and config.finetune_steps
    if any(d < 1.0 for d in targets.values()):
        for t in range(schedule.rounds):
            (r,) = schedule.step(t)  # one round a step, each followed by fine-tuning
            if tuner is not None and tuned:
                tuner.run(
                    FineTune(
                        model,
                        params,
                        config.finetune_steps,
                        config.lr,
                        sparsifier.mask_gradients,
                        sparsifier.apply,
                        desc=f"prune {r}/{schedule.rounds}",
                        seed=config.seed + r,
                    )
                )
        stage("pruned" + (" + fine-tuned" if tuned else ""))
    sparsifier.squash_mask()  # zeros are now exact; quantization keeps them zero
    return names


def _quantize(
    model: nn.Module,
    name: str,
    names: list[str],
    calibration: torch.Tensor | None,
    config: CompressConfig,
    meta: dict,
) -> tuple[Quantizer, dict]:
    """Share the weights of ``names`` (k-means codebooks or a grid); with the quantizer,
    what the report records of the stage (its label under ``"stage"``)."""
    if config.quantizer in GRID_QUANTIZERS:
        if calibration is None:
            raise SettingError(
                f"the {config.quantizer} quantizer needs unlabeled calibration images "
                "(`calibration`) for its Fisher information and layer inputs",
                "calibration",
            )
        if config.equalize:
            try:
                equalize(model)
            except ValueError as e:
                raise SettingError(str(e), "equalize") from None
        quantizer, details = _grid(model, name, names, calibration, config, meta)
        label = {"gptq": "GPTQ", "adaround": "AdaRound", "nearest": "nearest"}[config.quantizer]
        return quantizer, {"stage": f"quantized ({label})", **details}
    if config.quantizer == "kmeans":
        return Quantizer(model, parse_bits(config.bits)), {"stage": "quantized"}
    raise SettingError(
        f"unknown `quantizer` {config.quantizer!r}; choose kmeans, gptq, adaround or nearest",
        "quantizer",
    )


def _grid(
    model: nn.Module,
    name: str,
    names: list[str],
    inputs: torch.Tensor,
    config: CompressConfig,
    meta: dict,
) -> tuple[Quantizer, dict]:
    """Fisher-weighted uniform grids, GPTQ or AdaRound rounding, then the resulting weight
    sharing; with it, what the report records of the rounding (the grid scale, seconds; for
    AdaRound the output error relative to nearest rounding and the weights left undecided).
    With ``max_bytes`` the scale is the finest whose nearest rounding fits (less a margin);
    if the rounded file still does not fit, the margin grows by the excess and the rounding
    runs again."""
    start = time.perf_counter()
    fisher = fisher_diagonal(model, inputs, config.batch_size, config.seed)
    details: dict = {"fisher_seconds": round(time.perf_counter() - start, 2)}
    if config.max_bytes is None:
        return _round_on_grid(model, names, inputs, config, fisher, config.grid_scale, details)
    dense = {n: p.detach().clone() for n, p in model.named_parameters()}
    margin = 0.004
    for attempt in range(4):
        start = time.perf_counter()
        try:
            budget = int(config.max_bytes * (1 - margin))
            scale = fit_grid_scale(model, name, names, fisher, config, budget, meta)
        except ValueError as e:
            raise SettingError(f"`max_bytes` {config.max_bytes:,}: {e}", "max_bytes") from None
        details["fit_seconds"] = round(time.perf_counter() - start, 2)
        quantizer, details = _round_on_grid(model, names, inputs, config, fisher, scale, details)
        size = _file_bytes(model, name, quantizer.shared_tensors(), config, meta, scale)
        details.update(max_bytes=config.max_bytes, fit_attempts=attempt + 1)
        if size <= config.max_bytes:
            return quantizer, details
        margin += (size - config.max_bytes) / config.max_bytes + 0.001
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(dense[n])
    raise SettingError(
        f"the rounded file stayed above `max_bytes` ({config.max_bytes:,}) after 4 fits",
        "max_bytes",
    )


def _round_on_grid(
    model: nn.Module,
    names: list[str],
    inputs: torch.Tensor,
    config: CompressConfig,
    fisher: dict[str, torch.Tensor],
    scale: float,
    details: dict,
) -> tuple[Quantizer, dict]:
    """Round ``names`` onto the Fisher grids at ``scale`` by GPTQ or AdaRound."""
    steps = grid_steps(fisher, names, scale)
    details = {**details, "grid_scale": scale}
    start = time.perf_counter()
    if config.quantizer == "adaround":
        layers, seconds = adaround_quantize(
            model,
            steps,
            inputs,
            config.batch_size,
            config.adaround_iterations,
            config.adaround_regularizer,
            config.adaround_lr,
            progress=config.progress,
            bias_correction=config.bias_correction,
            dense_target=config.dense_target,
            rate=config.adaround_rate,
            row_weights={n: fisher[n].flatten(1).mean(1) for n in names}
            if config.output_weighting
            else None,
        )
        optimisation = sum(r.seconds for r in layers)
        soft = sum(r.soft for r in layers)
        details.update(
            rounding_seconds=round(optimisation, 2),
            calibration_pass_seconds=round(seconds - optimisation, 2),
            adaround_undecided=soft,
            adaround_layers=[asdict(r) for r in layers],
        )
        if soft:
            warnings.warn(
                f"AdaRound left {soft} weights undecided (rounded at 0.5): raise "
                "`adaround_regularizer` or `adaround_iterations`",
                stacklevel=2,
            )
    elif config.quantizer == "nearest":
        params = dict(model.named_parameters())
        _round_to_nearest(params, {n: params[n].detach().clone() for n in names}, steps)
        details["rounding_seconds"] = round(time.perf_counter() - start, 2)
    else:
        gptq_quantize(
            model,
            steps,
            inputs,
            config.batch_size,
            progress=config.progress,
            bias_correction=config.bias_correction,
            dense_target=config.dense_target,
        )
        details["rounding_seconds"] = round(time.perf_counter() - start, 2)
    return Quantizer.of_shared_weights(model, names), details


def _file_bytes(
    model: nn.Module,
    name: str,
    shared: dict[str, SharedTensor],
    config: CompressConfig,
    meta: dict,
    scale: float,
) -> int:
    """The size of the file that ``model`` with weight sharing ``shared`` makes."""
    cm = to_compressed(model, name, shared, config, {**meta, "grid_scale": scale})
    return len(to_bytes(cm))


def fit_grid_scale(
    model: nn.Module,
    name: str,
    names: list[str],
    fisher: dict[str, torch.Tensor],
    config: CompressConfig,
    budget: int,
    meta: dict | None = None,
) -> float:
    """The smallest grid scale (to 4 significant digits) at which ``model`` with the weights
    ``names`` rounded to the nearest point of their Fisher grids makes a file of at most
    ``budget`` bytes (with metadata ``meta``): bisection, the file shrinking as the grid
    coarsens. Learned rounding lands within a fraction of a percent of that size."""
    trial = copy.deepcopy(model)
    params = dict(trial.named_parameters())
    originals = {n: params[n].detach().clone() for n in names}

    @functools.cache  # the bracket and the bisection revisit scales
    def size(scale: float) -> int:
        _round_to_nearest(params, originals, grid_steps(fisher, names, scale))
        shared = Quantizer.of_shared_weights(trial, names).shared_tensors()
        return _file_bytes(trial, name, shared, config, meta or {}, scale)

    lo = hi = config.grid_scale
    while size(hi) > budget:
        lo, hi = hi, hi * 1.5
        if hi > 1e3 * config.grid_scale:
            raise ValueError(
                f"no grid makes a file that small: even with every weight rounded to zero "
                f"it takes {size(hi):,} bytes"
            )
    if lo == hi:  # the starting scale fits: refine downwards
        while size(lo) <= budget and lo > config.grid_scale / 1e3:
            hi, lo = lo, lo / 1.5
    # size(lo) > budget >= size(hi): halve in log scale to 4 significant digits.
    while hi / lo > 1 + 1e-4:
        mid = (lo * hi) ** 0.5
        if size(mid) > budget:
            lo = mid
        else:
            hi = mid
    shown = float(f"{hi:.4g}")
    return shown if size(shown) <= budget else hi


@torch.no_grad()
def _round_to_nearest(
    params: dict[str, nn.Parameter],
    originals: dict[str, torch.Tensor],
    steps: dict[str, float],
) -> None:
    """Set each parameter named in ``steps`` to its ``originals`` value rounded to the nearest
    point of its grid (exact zeros stay zero)."""
    for n, step in steps.items():
        params[n].copy_(torch.round(originals[n] / step) * step)
