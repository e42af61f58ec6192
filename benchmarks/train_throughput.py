"""Training throughput: our training step against a plain eager fp32 loop.

Both train torchvision's squeezenet1_1 architecture (ours is the registry's ``squeezenet1_1``,
the same layers) with SGD on the same batch size, in the same process, in interleaved rounds;
each figure is the median over rounds. "Ours" is the library's real epoch function
(``squeezenet.engine.train_one_epoch``) fed by its in-memory batches: uint8 images,
tensor crop/flip augmentation, normalisation, channels_last, bf16 autocast (where the CPU
has native bf16) and, with ``--compile``, torch.compile. The baseline gets ready-made float
batches, so augmentation time counts only against us. ``--model-only`` gives ours ready-made
float batches too (no augmentation, no epoch bookkeeping): the ceiling that channels_last and
bf16 alone allow.

    python benchmarks/train_throughput.py [--rounds 5] [--steps 4] [--compile] [--model-only]
                                          [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

from squeezenet import create_model
from squeezenet.data.loaders import TensorBatches
from squeezenet.engine import (
    EpochSettings,
    NormalizeBatch,
    Step,
    autocast,
    resolve_amp,
    train_one_epoch,
)

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class _Loop:
    """A run of ``steps`` training steps of one configuration."""

    def __init__(
        self,
        ours: bool,
        size: int,
        batch: int,
        steps: int,
        compile_: bool,
        amp: str,
        model_only: bool = False,
    ):
        self.ours, self.steps, self.model_only = ours, steps, model_only
        device = torch.device("cpu")
        gen = torch.Generator().manual_seed(0)
        n = batch * steps
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=gen)
        self.labels = torch.randint(0, 1000, (n,), generator=gen)
        if ours:
            model = create_model("squeezenet1_1").to(memory_format=torch.channels_last)
            self.raw = model
            self.model = torch.compile(model) if compile_ else model
            self.amp = resolve_amp(amp, device)
            self.batches = TensorBatches(
                self.images,
                self.labels,
                batch,
                train=True,
                crop_padding=4 if size <= 64 else 0,
                flip=True,
            )
            self.prepare = NormalizeBatch(device, MEAN, STD, channels_last=True)
            self.scaler = torch.amp.GradScaler("cpu", enabled=False)
        else:
            self.model = torchvision.models.squeezenet1_1()
        if not ours or model_only:
            x = self.images.float() / 255
            x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
            if ours:
                x = x.contiguous(memory_format=torch.channels_last)
            self.float_batches = list(zip(x.split(batch), self.labels.split(batch)))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-4, momentum=0.9)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: 1.0)
        self.epoch = 0

    def run(self) -> float:
        """Seconds for one pass of ``steps`` steps."""
        start = time.perf_counter()
        if self.ours and self.model_only:
            self.model.train()
            for x, y in self.float_batches:
                with autocast(torch.device("cpu"), self.amp):
                    logits = self.model(x)
                loss = F.cross_entropy(logits.float(), y)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
        elif self.ours:
            self.batches.set_epoch(self.epoch)
            self.epoch += 1
            step = Step(self.opt, self.sched, scaler=self.scaler)
            settings = EpochSettings(torch.device("cpu"), amp=self.amp)
            train_one_epoch(self.model, self.batches, self.prepare, step, settings, 0)
        else:
            self.model.train()
            for x, y in self.float_batches:
                loss = F.cross_entropy(self.model(x), y)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
        return time.perf_counter() - start


def measure(
    size: int,
    batch: int,
    rounds: int,
    steps: int,
    compile_: bool,
    amp: str,
    log,
    model_only: bool = False,
) -> dict:
    ours = _Loop(True, size, batch, steps, compile_, amp, model_only)
    base = _Loop(False, size, batch, steps, compile_, amp)
    ours.run(), base.run()  # warm-up (oneDNN primitive creation, compilation)
    t_ours, t_base = [], []
    for r in range(rounds):
        # Interleave, alternating which goes first, so drifting machine load hits both.
        pair = [(ours, t_ours), (base, t_base)]
        for loop, times in pair if r % 2 == 0 else pair[::-1]:
            times.append(loop.run())
        log(
            f"  {size}x{size} b{batch} round {r + 1}: ours {batch * steps / t_ours[-1]:.1f} "
            f"img/s, eager fp32 {batch * steps / t_base[-1]:.1f} img/s"
        )
    mo, mb = statistics.median(t_ours), statistics.median(t_base)
    return {
        "ours_img_s": batch * steps / mo,
        "eager_fp32_img_s": batch * steps / mb,
        "ratio": mb / mo,
        "amp": ours.amp,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median taken)")
    p.add_argument("--steps", type=int, default=4, help="training steps per timed run")
    p.add_argument("--compile", action="store_true", help="torch.compile our model")
    p.add_argument(
        "--model-only",
        action="store_true",
        help="ours without its data pipeline: the model step alone (a ceiling)",
    )
    p.add_argument("--amp", default="auto", help="our mixed precision: auto, bf16 or off")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--only", choices=["224", "32"], default=None, help="run one shape only")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.rounds < 5:
        p.error("--rounds must be at least 5 (the figure is a median)")
    if args.threads:
        torch.set_num_threads(args.threads)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "compile": args.compile,
        "rounds": args.rounds,
        "steps": args.steps,
        "model_only": args.model_only,
    }
    for size, batch in ((224, 32), (32, 128)):
        if args.only and args.only != str(size):
            continue
        r = measure(
            size, batch, args.rounds, args.steps, args.compile, args.amp, log, args.model_only
        )
        key = f"{size}_b{batch}"
        result[f"ratio_{key}"] = r["ratio"]
        result[f"ours_img_s_{key}"] = r["ours_img_s"]
        result[f"eager_fp32_img_s_{key}"] = r["eager_fp32_img_s"]
        result["amp"] = r["amp"]
        log(
            f"{size}x{size} batch {batch}: ours {r['ours_img_s']:.1f} img/s vs eager fp32 "
            f"{r['eager_fp32_img_s']:.1f} img/s -> {r['ratio']:.2f}x"
        )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
