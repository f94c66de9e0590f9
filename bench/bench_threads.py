"""One vs two torch threads for a v2 training step, under the machine's current load.

Each configuration runs in a fresh subprocess (the OpenMP settings are read when
torch's thread pool starts, so they must be in the environment before ``import
torch``): ``threads`` intra-op threads, optionally ``OMP_WAIT_POLICY=PASSIVE``
(workers sleep at a barrier instead of spinning), ``KMP_BLOCKTIME=0`` (Intel OpenMP's
spin time; ignored by the GNU libgomp of torch's Linux wheels) or
``torch.set_num_interop_threads(1)``, or with v2's frame loops always or never split
over the threads (``parallel.MIN_LOOP_MACS``); the last two rows are the runner's
default (:func:`~pytorch_kaldi_snn.runner.distributed.set_cpu_threads`) without a wait
policy
and with the one the console script sets. The configurations are interleaved round by
round, so a change of load hits all of them alike; the table gives per configuration
the median wall and CPU seconds of one step and the load average (``os.getloadavg``)
seen by the runs.

    nice python bench/bench_threads.py [--rounds 2] [--steps 3]
        [--shapes 128x16x200,550x64x50] [--busy N]

``--busy N`` makes the load itself: N busy-loop processes (pure Python, no threads)
run while the configurations are timed, so a loaded machine can be reproduced on an
idle one.

A shape ``HxBxT`` is a 2-layer v2 stack of H units, batch B, T frames (input 40).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

_PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
#: name -> (threads (0: the runner's choice), environment, one inter-op thread,
#: parallel.MIN_LOOP_MACS or None for the package's)
CONFIGS = {
    "1 thread": (1, {}, False, None),
    "2 threads": (2, {}, False, None),
    "2 + OMP_WAIT_POLICY=PASSIVE": (2, _PASSIVE, False, None),
    "2 + KMP_BLOCKTIME=0": (2, {"KMP_BLOCKTIME": "0"}, False, None),
    "2 + GOMP_SPINCOUNT=10000": (2, {"GOMP_SPINCOUNT": "10000"}, False, None),
    "2 + interop threads 1": (2, {}, True, None),
    "2 + PASSIVE + loops always split": (2, _PASSIVE, False, 1),
    "2 + PASSIVE + loops never split": (2, _PASSIVE, False, 1 << 62),
    "runner default without policy": (0, {}, False, None),
    "runner default via console script": (0, _PASSIVE, False, None),
}


def worker(args) -> None:
    import torch

    from pytorch_kaldi_snn.nn import MultiBitSpike, SNNStack, parallel

    if args.loop_macs is not None:
        parallel.MIN_LOOP_MACS = args.loop_macs
    if args.interop:
        torch.set_num_interop_threads(1)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    else:
        from pytorch_kaldi_snn.runner.distributed import set_cpu_threads

        set_cpu_threads(0)
    h, b, t = (int(v) for v in args.shape.split("x"))
    torch.manual_seed(0)
    stack = SNNStack(40, [h, h], "v2", lambda: MultiBitSpike(6, 4),
                     dropout=[0.1, 0.1]).train()
    x = torch.randn(t, b, 40)
    stack(x).sum().backward()
    walls, cpus = [], []
    for _ in range(args.steps):
        w0, c0 = time.perf_counter(), time.process_time()
        stack(x).sum().backward()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    print(json.dumps({"wall": statistics.median(walls), "cpu": statistics.median(cpus),
                      "threads": torch.get_num_threads(),
                      "load": os.getloadavg()[0]}))


def _run(shape: str, name: str, steps: int) -> dict:
    threads, env, interop, loop_macs = CONFIGS[name]
    environ = {k: v for k, v in os.environ.items()
               if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME",
                            "GOMP_SPINCOUNT")}
    environ.update(env)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--shape", shape,
           "--threads", str(threads), "--steps", str(steps)]
    if interop:
        cmd.append("--interop")
    if loop_macs is not None:
        cmd += ["--loop-macs", str(loop_macs)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=environ)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--shapes", default="128x16x200,550x64x50")
    p.add_argument("--configs", default=",".join(CONFIGS),
                   help="comma list of: " + ", ".join(CONFIGS))
    p.add_argument("--busy", type=int, default=0,
                   help="busy-loop processes to run meanwhile (a reproducible load)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--shape", default="128x16x200", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--interop", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--loop-macs", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"--configs: unknown {unknown}; allowed: {', '.join(CONFIGS)}")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.busy)]
    try:
        _table(args, names)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    return 0


def _table(args: argparse.Namespace, names: list[str]) -> None:
    print(f"# v2 2-layer training step, {args.busy} busy-loop processes, "
          f"{os.cpu_count()} CPUs, affinity "
          f"{len(os.sched_getaffinity(0))}, nice {os.nice(0)}, load at start "
          f"{os.getloadavg()[0]:.1f}, medians of {args.rounds} rounds x {args.steps} "
          "steps")
    print("| shape HxBxT | configuration | threads | wall s | CPU s | x 1 thread wall "
          "| load |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for shape in args.shapes.split(","):
        res: dict[str, list[dict]] = {n: [] for n in names}
        for _ in range(args.rounds):
            for name in names:
                res[name].append(_run(shape, name, args.steps))
        base = statistics.median(r["wall"] for r in res[names[0]])
        for name in names:
            wall = statistics.median(r["wall"] for r in res[name])
            cpu = statistics.median(r["cpu"] for r in res[name])
            load = statistics.median(r["load"] for r in res[name])
            print(f"| {shape} | {name} | {res[name][0]['threads']} | {wall:.3f} | "
                  f"{cpu:.3f} | {wall / base:.2f} | {load:.1f} |", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
