"""`sorter xray ...`: datasets, Labelme import, the figure, the benchmark, calibration.

The cell comes from the global `sorter --cell ...` (default config/cell.yaml, the copper
cell); `config/cell_lithium.yaml` is the spodumene feed.
"""

from __future__ import annotations

import argparse
from typing import Any

from sorter.cell.description import REPO_CONFIG, load_cell


def _cell(args: argparse.Namespace) -> dict[str, Any]:
    from sorter.cli import parse_overrides

    return load_cell(args.cell, parse_overrides(args.set))


def cmd_dataset(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.dataset import DatasetSpec, generate_dataset
    from sorter.xrt_generator.particle_model import sieve_class

    spec = DatasetSpec(scenes=args.scenes, seed=args.seed, lines=args.lines,
                       pixels=args.pixels, coverage=args.coverage,
                       touching_fraction=args.touching, overlap_fraction=args.overlap,
                       size_m=sieve_class(args.size_class) if args.size_class else None,
                       rgb=args.rgb)
    out = generate_dataset(_cell(args), spec, args.out, progress=not args.quiet)
    print(f"dataset: {spec.scenes} scenes in {out} (format: {out / 'FORMAT.md'})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.dataset import import_labelme

    out = import_labelme(args.json, args.out, labels=args.labels, progress=not args.quiet)
    print(f"imported {len(args.json)} Labelme file(s) into {out}")
    return 0


def cmd_figure(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.figure import make_figure

    cells = [load_cell(path) for path in args.cells]
    out = make_figure(cells, args.out, seed=args.seed, lines=args.lines)
    print(f"figure: {out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.bench import main

    return main(_cell(args), args)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.calibrate import calibrate_cell, format_calibration

    print(format_calibration(calibrate_cell(_cell(args))))
    return 0


def cmd_rtable(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.calibrate import findings_r_table
    from sorter.xrt_generator.materials import Material, library_for_cell
    from sorter.xrt_generator.model import XraySetup, build_model

    cell = _cell(args)
    library = library_for_cell(cell)
    model = build_model(XraySetup.from_cell(cell),
                        [Material.pure(m) for m in library.minerals.values()])
    print(f"R = a_L / a_H at a_H = {args.a_high} (direct spectral integration), "
          f"{cell['cell']['name']}")
    print(f"{'material':14s} {'generator':>9s} {'FINDINGS':>9s} {'diff':>7s}")
    for name, (ours, theirs) in findings_r_table(model, library, args.a_high).items():
        print(f"{name:14s} {ours:9.3f} {theirs:9.3f} {ours - theirs:+7.3f}")
    low, high = model.flat_photons
    snr_low, snr_high = model.flat_snr
    print(f"open beam per pixel per line: {low:.0f} / {high:.0f} photons interacting in the "
          f"low / high layer, SNR {snr_low:.1f} / {snr_high:.1f}")
    return 0


def add_xray_parser(sub: Any) -> None:
    xray = sub.add_parser("xray", help="synthetic dual-energy XRT generator (issue 4)")
    xsub = xray.add_subparsers(dest="xray_command", required=True)

    ds = xsub.add_parser("dataset", help="write synthetic scenes (images, masks, truth)")
    ds.add_argument("--out", required=True, help="dataset folder")
    ds.add_argument("--scenes", type=int, default=10)
    ds.add_argument("--seed", type=int, default=0)
    ds.add_argument("--lines", type=int, default=512, help="lines per scene (along travel)")
    ds.add_argument("--pixels", type=int, default=None, help="pixels across (default: cell)")
    ds.add_argument("--coverage", type=float, default=0.3, help="belt area under particles")
    ds.add_argument("--touching", type=float, default=0.2, help="share laid touching")
    ds.add_argument("--overlap", type=float, default=0.05, help="share laid overlapping")
    ds.add_argument("--size-class", default=None, help="sieve class in mm, e.g. 10-15")
    ds.add_argument("--rgb", action="store_true", help="also write the top-view camera image")
    ds.add_argument("--quiet", action="store_true", help="no progress bar")
    ds.set_defaults(func=cmd_dataset)

    lm = xsub.add_parser("import-labelme", help="Labelme JSON files -> the dataset format")
    lm.add_argument("json", nargs="+", help="Labelme .json files")
    lm.add_argument("--out", required=True)
    lm.add_argument("--labels", nargs="*", default=None,
                    help="category names in id order (default: sorted labels found)")
    lm.add_argument("--quiet", action="store_true")
    lm.set_defaults(func=cmd_import)

    fig = xsub.add_parser("figure", help="low, high, R and mask for a copper and a lithium "
                                         "scene (PNG)")
    fig.add_argument("--out", default="results/xray-figure.png")
    fig.add_argument("--cells", nargs="+", default=[str(REPO_CONFIG / "cell.yaml"),
                                                     str(REPO_CONFIG / "cell_lithium.yaml")])
    fig.add_argument("--seed", type=int, default=4)
    fig.add_argument("--lines", type=int, default=320)
    fig.set_defaults(func=cmd_figure)

    bench = xsub.add_parser("bench", help="Mpx/s per channel vs real time and vs direct "
                                          "spectral integration")
    bench.add_argument("--lines", type=int, default=2000)
    bench.add_argument("--pixels", type=int, default=1500, help="1.2 m at 0.8 mm")
    bench.add_argument("--coverage", type=float, default=0.25)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--json", default=None, help="also write the numbers here")
    bench.set_defaults(func=cmd_bench)

    cal = xsub.add_parser("calibrate", help="H-L threshold curve and effective high energy "
                                            "for the cell (YAML to paste)")
    cal.set_defaults(func=cmd_calibrate)

    rt = xsub.add_parser("rtable", help="R by mineral at equal a_H, next to FINDINGS")
    rt.add_argument("--a-high", type=float, default=0.5)
    rt.set_defaults(func=cmd_rtable)

