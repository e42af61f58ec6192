"""``fit(config)``: the whole run -- data, model, epochs, checkpoints, logs, final test."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..data.augment import CutMix
from ..data.loaders import DataBundle, StreamedBatches, build_loaders
from ..data.transforms import rgb_preprocess
from ..engine import (
    EpochSettings,
    NormalizeBatch,
    Step,
    Teacher,
    build_optimizer,
    build_scheduler,
    evaluate_batches,
    first_inputs,
    recalibrate_batchnorm,
    resolve_amp,
    train_one_epoch,
)
from ..engine import distributed as dist
from ..engine.health import (
    DeadClassifierWarning,
    NotLearningWarning,
    TrainingDiverged,
    dead_classifier,
    dead_classifier_message,
    not_learning,
    not_learning_message,
)
from ..files import check_not_input, make_folder
from ..models.batchnorm import add_batchnorm, fuse_batchnorm, has_batchnorm, init_batchnorm_identity
from ..pruning import GeometricScheduler, MagnitudeSparsifier, target_densities
from ..weights import ModelInfo, WeightsError, create_model, model_card, save_state_dict
from ..weights.sqz.modeldesc import describe_model
from .checkpoint import (
    config_differences,
    make_checkpoint,
    parse_checkpoint,
    save_atomic,
    set_rng_state,
)
from .config import TrainConfig, resolve_config, save_config
from .defaults import adapt_to_rgb_unit_input, model_for_weights
from .logs import RunLog


def model_to_train(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """The registered model, from ``weights`` when given (classifier replaced to fit the
    data's classes; weights trained on other input made to take RGB at ImageNet's scale),
    with optional train-time batch norm and frozen features."""
    model = create_model(cfg.model, weights=cfg.weights, num_classes=num_classes, **cfg.model_args)
    # What the loaded weights state, from the model's card: the file is not read again.
    card = model_card(model)
    source = card.preprocess if card is not None else None
    if source is not None:
        # Weights trained on other input (Caffe's BGR 0..255) take RGB at ImageNet's scale
        # from now on: the run, model.pth and every later command see ordinary input.
        adapt_to_rgb_unit_input(model, source)
    if cfg.batchnorm:
        add_batchnorm(model)
    if cfg.freeze_features:
        features = getattr(model, "features", None)
        if features is None:
            raise ValueError(f"model {cfg.model!r} has no `features` to freeze")
        for p in features.parameters():
            p.requires_grad_(False)
    return model


def build_teacher(
    cfg: TrainConfig, num_classes: int, image_size: int, device: torch.device
) -> Teacher | None:
    """The fixed network to distil from (``cfg.teacher``), or None. Its classifier must
    already fit the data: a replaced (random) classifier would teach noise."""
    if cfg.teacher is None:
        return None
    model = create_model(cfg.model, weights=cfg.teacher, **cfg.model_args).eval()
    with torch.no_grad():
        classes = model(torch.zeros(1, 3, image_size, image_size)).shape[1]
    if classes != num_classes:
        raise ValueError(
            f"teacher {cfg.teacher}: it predicts {classes} classes but the data "
            f"has {num_classes}; distil from a model trained on this data"
        )
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return Teacher(model, cfg.distill_weight, cfg.distill_temperature)


def _prune_schedule(model: nn.Module, cfg: TrainConfig, optimizer) -> GeometricScheduler:
    """Iterative magnitude pruning while training: ``prune_rounds`` rounds over the first
    ``prune_until`` fraction of the epochs. The masks are re-applied after every optimizer
    step, so momentum and weight decay cannot revive a pruned weight, and travel in the
    checkpoints."""
    assert cfg.prune is not None  # a schedule is built only for a run that prunes
    sparsifier = MagnitudeSparsifier(model, cfg.prune_granularity)
    sparsifier.hook_optimizer(optimizer)
    targets = target_densities(model, cfg.prune)
    return GeometricScheduler(sparsifier, targets, cfg.prune_rounds, cfg.prune_until * cfg.epochs)


def weight_average(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s weights and batch-norm statistics
    (Polyak and Juditsky, 1992), updated by ``update_parameters(model)`` after each step."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _seed_everything(seed: int, deterministic: bool) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


def fit(cfg: TrainConfig, on_epoch_end: Callable[[int, dict], None] | None = None) -> dict:
    """Train as ``cfg`` says. Returns a summary (best validation top-1, test top-1, paths) and
    the trained module under ``"model"`` (unwrapped, last epoch's weights).

    ``on_epoch_end(epoch, metrics)`` runs on every process after each epoch's checkpoint.
    """
    cfg.validate()
    for written in ("model.pth", "best.pt", "last.pt"):
        check_not_input(
            Path(cfg.output, written), {"weights": cfg.weights, "teacher": cfg.teacher}, "--output"
        )
    check_weights(cfg)  # before any folder is made or data decoded
    info = dist.from_env()
    device = dist.resolve_device(cfg.device, info.local_rank)
    dist.init(info, device)
    out = Path(cfg.output)
    existed = out.exists()
    try:
        return _fit(cfg, info, device, on_epoch_end)
    except BaseException:
        # A run that fails before writing anything leaves no empty run folder behind.
        if info.is_main and not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    finally:
        dist.shutdown()


#: Optimizer steps per epoch below which a run is warned that its batch is large for its data.
FEW_STEPS = 10


class FewStepsWarning(UserWarning):
    """An epoch of only a handful of optimizer steps: the batch is large for the data."""


def check_weights(cfg: TrainConfig) -> None:
    """Load ``cfg.weights`` into ``cfg.model`` once, so that unusable weights fail at once;
    when the file fits another registered model, the error ends with a one-line hint."""
    if cfg.weights is None:
        return
    try:
        create_model(cfg.model, weights=cfg.weights, **cfg.model_args)
    except WeightsError as e:
        try:
            fits = model_for_weights(cfg.weights, cfg.model_args)
        except WeightsError:
            fits = None
        if fits is None or fits == cfg.model:
            raise
        raise WeightsError(
            f"{e}\nhint: {cfg.weights} holds {fits} weights: leave out --model (it is read "
            f"from the weights) or pass --model {fits}"
        ) from None


@dataclass
class _Run:
    """The state of one training run, shared by its phases (start, epochs, finish)."""

    cfg: TrainConfig
    info: dist.DistInfo
    settings: EpochSettings  # device, amp, teacher, cutmix, ...
    data: DataBundle
    raw_model: nn.Module  # the model itself: what is saved
    model: nn.Module  # what is called: compiled and/or DDP-wrapped raw_model
    # What evaluates: raw_model, compiled if asked, never DDP-wrapped (evaluation shards are
    # unpadded, so ranks may run different numbers of batches: no per-forward collectives).
    eval_model: nn.Module
    prepare: NormalizeBatch
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    accum: int
    prune: GeometricScheduler | None
    log: RunLog
    ema: AveragedModel | None = None
    start_epoch: int = 0
    best: dict = field(default_factory=lambda: {"top1": -1.0, "epoch": 0})
    history: list = field(default_factory=list)
    warned_dead: bool = False  # a stalled-training warning is given once per run
    started: float = field(default_factory=time.perf_counter)  # for the run's ETA

    @property
    def out(self) -> Path:
        return Path(self.cfg.output)

    def evaluate(self, loader, **options) -> dict:
        """:func:`evaluate_batches` of ``eval_model`` over ``loader``, on the run's device and
        precision."""
        return evaluate_batches(
            self.eval_model,
            loader,
            self.prepare,
            device=self.settings.device,
            amp=self.settings.amp,
            **options,
        )


def _fit(cfg: TrainConfig, info: dist.DistInfo, device: torch.device, on_epoch_end) -> dict:
    run = _start(cfg, info, device)
    # A resumed run's minutes include the epochs it resumed after (their recorded time).
    earlier = sum(float(h.get("epoch_seconds", 0.0)) for h in run.history)
    start_time = run.started = time.perf_counter()
    for epoch in range(run.start_epoch, cfg.epochs):
        metrics = _train_epoch(run, epoch)
        dist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)
    minutes = (earlier + time.perf_counter() - start_time) / 60
    prune = run.prune
    extra = {"density": prune.sparsifier.density(), "prune": str(cfg.prune)} if prune else {}
    return _finish(run, minutes, extra)


def _start(cfg: TrainConfig, info: dist.DistInfo, device: torch.device) -> _Run:
    """Seed, open the data, build the model, optimizer and schedules; resume if asked."""
    out = Path(cfg.output)
    if info.is_main:  # before any data is read: a run that cannot save is refused at once
        make_folder(out, "run folder")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _seed_everything(cfg.seed, cfg.deterministic)
    amp = resolve_amp(cfg.amp, device)
    image_size = cfg.input_size()
    data = build_loaders(
        cfg.data_spec(),
        rank=info.rank,
        world_size=info.world_size,
        image_size=image_size,
        pin_memory=device.type == "cuda",
        epochs=cfg.epochs,
        max_steps=cfg.max_steps_per_epoch,
        recalibrate_bn=cfg.recalibrate_bn,
    )
    model = model_to_train(cfg, data.num_classes).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    accum = cfg.accum_steps(info.world_size)
    optimizer = build_optimizer(model, cfg)
    steps_per_epoch = -(-len(data.train) // accum)
    scheduler = build_scheduler(
        optimizer, cfg.schedule, cfg.epochs * steps_per_epoch, cfg.warmup_fraction
    )
    scaler = torch.amp.GradScaler(device.type, enabled=(amp == "fp16"))
    ckpt = _checkpoint_to_resume(cfg, info, device)
    prepare = NormalizeBatch(device, cfg.mean, cfg.std, cfg.channels_last)
    if cfg.weights and cfg.batchnorm and ckpt is None:
        # Inserted batch norm starts as the identity on the data, so fine-tuning starts from
        # the loaded network's function (DDP then broadcasts rank 0's values).
        data.train.set_epoch(0)
        init_batchnorm_identity(model, first_inputs(data.train, prepare))
    prune = _prune_schedule(model, cfg, optimizer) if cfg.prune is not None else None
    ema = weight_average(model, cfg.ema_decay) if cfg.ema_decay is not None else None
    teacher = build_teacher(cfg, data.num_classes, image_size, device)
    # The effective batch's lr: lr is given for batch x world x accum images per step.
    start_epoch, best, history = 0, {"top1": -1.0, "epoch": 0}, []
    if ckpt is not None:
        start_epoch, best, history = _resume(
            ckpt, out, model, optimizer, scheduler, scaler, prune, ema
        )
    raw_model = model
    if cfg.compile:
        # For a module, torch.compile returns an OptimizedModule (an nn.Module).
        model = torch.compile(model)  # type: ignore[assignment]
    eval_model = model
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    log = RunLog(
        out, enabled=info.is_main, tensorboard=cfg.tensorboard, history=history, plot=cfg.plot
    )
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        _say(_header(cfg, data, info.world_size, accum, device, amp), cfg)
        _warn_if_few_steps(cfg, data, info.world_size, accum)
    settings = EpochSettings(
        device=device,
        amp=amp,
        label_smoothing=cfg.label_smoothing,
        epochs=cfg.epochs,
        progress=cfg.progress and info.is_main,
        teacher=teacher,
        cutmix=CutMix(cfg.cutmix, cfg.seed, info.rank) if cfg.cutmix > 0 else None,
    )
    return _Run(
        cfg=cfg,
        info=info,
        settings=settings,
        data=data,
        raw_model=raw_model,
        model=model,
        eval_model=eval_model,
        prepare=prepare,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        accum=accum,
        prune=prune,
        log=log,
        ema=ema,
        start_epoch=start_epoch,
        best=best,
        history=history,
    )


def _resume(ckpt: dict, out: Path, model, optimizer, scheduler, scaler, prune, ema):
    """Restore the state ``last.pt`` holds; returns (next epoch, best so far, history)."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    if prune is not None and ckpt.get("masks"):
        prune.sparsifier.load_state_dict(ckpt["masks"])
    if ema is not None:
        if ckpt.get("ema") is None:
            raise ValueError(f"{out / 'last.pt'}: holds no weight average")
        ema.load_state_dict(ckpt["ema"])
    return ckpt["epoch"], ckpt["best"], ckpt["history"]


def _header(cfg: TrainConfig, data: DataBundle, world: int, accum: int, device, amp) -> str:
    """The run's first line: what trains on what, with the images each epoch really uses."""
    train = data.train
    used, total = train.images_used * world, train.num_samples * world
    images = f"{used}" if used == total else f"{used} of {total}"
    streamed = isinstance(train, StreamedBatches)  # always random-resized crops
    augment = (
        f"random-resized crops (scale >= {cfg.crop_scale or 0.08})"
        if cfg.crop_scale is not None or streamed
        else f"padded crops ({cfg.crop_padding} px)"
    )
    return (
        f"train: {cfg.model} on {cfg.data} ({data.num_classes} classes, {images} train "
        f"images/epoch, "
        f"{augment}, validation: {data.val_source}), device {device}, amp {amp}, "
        f"{world} process(es), batch {train.batch_size} x {world} x {accum} "
        f"accumulation, {len(train)} step(s)/epoch"
    )


def _warn_if_few_steps(cfg: TrainConfig, data: DataBundle, world: int, accum: int) -> None:
    steps = -(-len(data.train) // accum)
    per_step = data.train.batch_size * world * accum
    # A batch of 16 or fewer has no smaller batch to suggest: the data is tiny.
    if cfg.max_steps_per_epoch or steps >= FEW_STEPS or per_step <= 16:
        return
    warnings.warn(
        f"only {steps} optimizer step(s) per epoch ({data.train.num_samples * world} images, "
        f"{per_step} per step): too few for the "
        "weights to move far; a smaller --batch-size (8-32 for a few hundred images) "
        "usually trains better",
        FewStepsWarning,
        stacklevel=3,
    )


def _checkpoint_to_resume(cfg: TrainConfig, info: dist.DistInfo, device: torch.device):
    """``<output>/last.pt`` when this run continues one: asked (``resume``), or restarted by
    torchrun's elastic agent (``--max-restarts``) after an epoch was saved. Only rank 0's
    machine is sure to hold the file (rank 0 writes it), so rank 0 reads it and every rank
    loads the same bytes. A checkpoint of a differently configured run is refused."""
    path = Path(cfg.output) / "last.pt"
    # Any node's restart restarts them all, but only the failed node's agent counts it.
    restarted = dist.broadcast_flag(dist.restart_count() > 0, device)
    if not (cfg.resume or restarted):
        return None
    payload = path.read_bytes() if info.is_main and path.is_file() else None
    payload = dist.broadcast_bytes(payload, device)
    if payload is None:
        if cfg.resume:
            raise FileNotFoundError(f"{path}: no checkpoint to resume from")
        if info.is_main:
            _say("train: restarted by torchrun before the first checkpoint; epoch 1 again", cfg)
        return None
    ckpt = parse_checkpoint(payload, path)
    # Rank 0 judges, with its own settings: another machine may name the same data by
    # another path. Every rank stops alike, so none waits for the others.
    saved = ckpt.get("config") or {}
    differences = config_differences(saved, cfg.to_dict()) if info.is_main else []
    if dist.broadcast_flag(bool(differences), device):
        found = f" ({'; '.join(differences)})" if differences else " (as rank 0 found)"
        raise ValueError(
            f"{path} is the checkpoint of a differently configured run{found}; resume it "
            "with its own settings, or train into another --output"
        )
    if restarted and not cfg.resume and info.is_main:
        _say(
            f"train: restarted by torchrun; resuming from {path} "
            f"(epoch {ckpt['epoch']}/{cfg.epochs} done)",
            cfg,
        )
    return ckpt


def _train_epoch(run: _Run, epoch: int) -> dict:
    """One epoch, its validation, the checkpoint choice and the logs; returns its metrics."""
    began = time.perf_counter()
    cfg, out, prune = run.cfg, run.out, run.prune
    run.data.train.set_epoch(epoch)
    if run.settings.cutmix is not None:
        run.settings.cutmix.set_epoch(epoch)
    if prune is not None:
        prune.step(epoch)
    average = None if run.ema is None else partial(run.ema.update_parameters, run.raw_model)
    try:
        update = Step(
            run.optimizer,
            run.scheduler,
            scaler=run.scaler,
            accum_steps=run.accum,
            after_step=average,
        )
        metrics = train_one_epoch(
            run.model, run.data.train, run.prepare, update, run.settings, epoch
        )
    except TrainingDiverged as e:
        kept = out / "last.pt"
        where = (
            f"the last good checkpoint is {kept} (epoch {epoch})"
            if kept.exists()
            else "no checkpoint was written before it"
        )
        raise TrainingDiverged(f"{e}; {where}") from None
    dist.sync_buffers(run.raw_model)  # every rank evaluates what rank 0 checkpoints
    metrics.update(epoch=epoch + 1, lr=run.optimizer.param_groups[0]["lr"])
    if run.ema is not None and epoch + 1 == cfg.epochs:
        # The final network is the average (then recalibrated, validated and saved).
        run.raw_model.load_state_dict(run.ema.module.state_dict())
    if cfg.recalibrate_bn and epoch + 1 == cfg.epochs:
        _recalibrate(run)
    # ``val_every`` skips validation on some epochs (it can cost as much as training at a
    # larger evaluation size); the final epoch is always validated.
    val = None
    if (epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs:
        val = run.evaluate(run.data.val, tta=cfg.tta)
        if not math.isfinite(val["loss"]):
            # The weights hold NaN or inf: any "best" chosen from them would be a lie.
            raise TrainingDiverged(
                f"the validation loss is NaN or infinite after epoch {epoch + 1}: the weights "
                "are no longer finite; stopping (lower --lr, or a warmup: --schedule onecycle)"
            )
        metrics.update(val_loss=val["loss"], val_top1=val["top1"], val_top5=val["top5"])
        if cfg.tta:
            metrics["val_tta_top1"] = val["tta_top1"]
    _warn_if_stalled(run, val, metrics, epoch)
    # With tta, the checkpoint is chosen by what will be reported: mirrored-mean top-1.
    selected = -1.0 if val is None else val["tta_top1"] if cfg.tta else val["top1"]
    # A pruned run only selects among epochs at its final density.
    # ``select: last`` keeps the final epoch (an lr annealed to zero; a validation split
    # too small to rank epochs reliably).
    is_best = (
        epoch + 1 == cfg.epochs
        if cfg.select == "last"
        else selected > run.best["top1"] and (prune is None or epoch >= prune.last_step)
    )
    if is_best:
        run.best = {"top1": selected, "epoch": epoch + 1}
    metrics["epoch_seconds"] = time.perf_counter() - began
    run.history.append(metrics)
    if run.info.is_main:
        ckpt = make_checkpoint(
            model=run.raw_model,
            optimizer=run.optimizer,
            scheduler=run.scheduler,
            scaler=run.scaler,
            epoch=epoch + 1,
            best=run.best,
            history=run.history,
            config=cfg.to_dict(),
            masks=prune.sparsifier.state_dict() if prune else None,
            ema=None if run.ema is None else run.ema.state_dict(),
        )
        save_atomic(ckpt, out / "last.pt")
        if is_best:
            save_atomic(ckpt, out / "best.pt")
        run.log.epoch(metrics)
        _say(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {metrics['train_loss']:.4f} "
            f"train {metrics['train_top1']:.2%} "
            f"val {'-' if val is None else format(val['top1'], '.2%')} "
            f"({metrics['images_per_s']:.0f} img/s{_eta(run, epoch)})",
            cfg,
        )
    return metrics


def _eta(run: _Run, epoch: int) -> str:
    """``, about N min left`` from the mean time of this session's epochs so far."""
    left = run.cfg.epochs - epoch - 1
    if left <= 0:
        return ""
    per_epoch = (time.perf_counter() - run.started) / (epoch + 1 - run.start_epoch)
    return f", about {left * per_epoch / 60:.1f} min left"


def _warn_if_stalled(run: _Run, val: dict | None, metrics: dict, epoch: int) -> None:
    """Warn once per run about a dead classifier (validation) or a training loss stuck at
    the uniform guess (from the second epoch, or the only one)."""
    cfg, classes = run.cfg, run.data.num_classes
    if not run.info.is_main or run.warned_dead:
        return
    if val is not None and dead_classifier(val, classes):
        run.warned_dead = True
        message = dead_classifier_message(val, classes, epoch + 1, cfg.lr)
        warnings.warn(message, DeadClassifierWarning, stacklevel=3)
    elif (epoch >= 1 or cfg.epochs == 1) and not_learning(metrics["train_loss"], classes):
        run.warned_dead = True
        scratch_without_bn = not cfg.batchnorm and cfg.weights is None
        message = not_learning_message(
            metrics["train_loss"], classes, epoch + 1, cfg.lr, scratch_without_bn
        )
        warnings.warn(message, NotLearningWarning, stacklevel=3)


def _recalibrate(run: _Run) -> None:
    """recalibrate_bn: the final network's batch-norm statistics, redone at the evaluation
    side on the training images (before the final validation, the checkpoint and the fold)."""
    cfg, data = run.cfg, run.data
    assert data.calibration is not None  # built when cfg.recalibrate_bn is set
    size = cfg.eval_image_size or data.image_size
    start = time.perf_counter()
    seen = recalibrate_batchnorm(
        run.raw_model,
        data.calibration,
        run.prepare,
        device=run.settings.device,
        amp=run.settings.amp,
        size=size,
    )
    if run.info.is_main:
        _say(
            f"batch norm recalibrated on {seen} training images at {size} px "
            f"({time.perf_counter() - start:.0f} s)",
            cfg,
        )


def _finish(run: _Run, minutes: float, extra: dict) -> dict:
    """Score the best checkpoint on the test split; write model.pth and results."""
    cfg, out, data, raw_model, best = run.cfg, run.out, run.data, run.raw_model, run.best
    result = {
        "best_val_top1": best["top1"],
        "best_epoch": best["epoch"],
        "epochs": len(run.history),
        "train_minutes": minutes,
        "output": str(out),
        "model_name": cfg.model,
        "num_classes": data.num_classes,
        "classes": data.classes,
        **extra,
    }
    final_state = {k: v.clone() for k, v in raw_model.state_dict().items()}
    best_path = out / "best.pt"
    dist.barrier()
    # Rank 0 wrote best.pt; on other machines the output folder may lack it, or hold an older
    # run's, so every rank tests the bytes rank 0 reads.
    best_file = dist.broadcast_bytes(
        best_path.read_bytes() if run.info.is_main and best_path.is_file() else None,
        run.settings.device,
    )
    if best_file is not None:
        raw_model.load_state_dict(parse_checkpoint(best_file, best_path)["model"])
    if cfg.eval_test and data.test is not None:
        test = run.evaluate(
            data.test,
            desc="test",
            progress=cfg.progress and run.info.is_main,
            total=data.test.num_samples,
            tta=cfg.tta,
        )
        result.update(test_top1=test["top1"], test_top5=test["top5"], test_n=test["n"])
        if cfg.tta:
            result.update(test_tta_top1=test["tta_top1"], test_tta_top5=test["tta_top5"])
    if run.info.is_main:
        exported = _plain_copy(raw_model)
        save_state_dict(exported.state_dict(), out / "model.pth", _describe(exported, run))
        result["model_path"] = str(out / "model.pth")
        run.log.finish(result)
        msg = (
            f"done in {minutes:.1f} min: best val top-1 {best['top1']:.2%} (epoch {best['epoch']})"
        )
        if "test_top1" in result:
            msg += f", test top-1 {result['test_top1']:.2%} (n={result['test_n']})"
        if "test_tta_top1" in result:
            msg += f", with mirrored-mean tta {result['test_tta_top1']:.2%}"
        _say(msg + f"; model: {out / 'model.pth'}", cfg)
    raw_model.load_state_dict(final_state)
    result["model"] = raw_model
    return result


def _describe(model: nn.Module, run: _Run) -> ModelInfo:
    """What model.pth says of itself: the architecture, the data's class names and the
    preprocessing of the validation images (so later commands repeat none of them)."""
    resize, crop = run.data.eval_resize_crop or (run.data.image_size,) * 2
    preprocess = rgb_preprocess(resize, crop, run.cfg.mean, run.cfg.std)
    return ModelInfo(describe_model(model, run.cfg.model), tuple(run.data.classes), preprocess)


def _plain_copy(model: nn.Module) -> nn.Module:
    """A CPU copy with train-time batch norm folded into the convs (a plain SqueezeNet)."""
    import copy

    clone = copy.deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    if has_batchnorm(clone):
        fuse_batchnorm(clone)
    return clone


def _say(msg: str, cfg: TrainConfig) -> None:
    print(msg, file=sys.stderr if cfg.progress else sys.stdout, flush=True)


def train(
    config: str | os.PathLike | None = None,
    *,
    model_args: dict | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    **settings,
) -> dict:
    """``squeezenet train`` as a function: ``settings`` are :class:`TrainConfig` fields (the
    flags' names: ``data``, ``weights``, ``epochs``, ...), over the YAML ``config`` file and
    the ``recipe`` either names; ``model_args`` are added to the configuration's. Returns
    :func:`fit`'s summary, with the trained module under ``"model"``."""
    cfg = resolve_config(config, settings)
    if model_args:
        cfg.model_args = {**cfg.model_args, **model_args}
    return fit(cfg, on_epoch_end)
