"""`sorter xray ...`: datasets, training sets, Labelme import, the figure, the benchmark,
calibration.

The cell comes from the cell options, `sorter --cell ... xray dataset` or `sorter xray dataset
--cell ...` (default config/cell.yaml, the copper cell); `config/cell_lithium.yaml` is the
spodumene feed. The figure names its own cells (--cells).
"""

from __future__ import annotations

import argparse
from typing import Any

from sorter.cell.description import REPO_CONFIG, load_cell
from sorter.cli_options import cell_from_args, cell_options, fraction, positive_float, positive_int


def _cell(args: argparse.Namespace) -> dict[str, Any]:
    return cell_from_args(args)


def _size_class(text: str) -> str:
    """argparse type of --size-class: checked here, converted by the dataset command."""
    from sorter.xrt_generator.feed_spec import sieve_class

    try:
        sieve_class(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def cmd_dataset(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.dataset import DatasetSpec, generate_dataset
    from sorter.xrt_generator.feed_spec import sieve_class

    spec = DatasetSpec(scenes=args.scenes, seed=args.seed, lines=args.lines,
                       pixels=args.pixels, coverage=args.coverage,
                       touching_fraction=args.touching, overlap_fraction=args.overlap,
                       size_m=sieve_class(args.size_class) if args.size_class else None,
                       rgb=args.rgb)
    out = generate_dataset(_cell(args), spec, args.out, progress=not args.quiet)
    print(f"dataset: {spec.scenes} scenes in {out} (format: {out / 'FORMAT.md'})")
    return 0


def cmd_training_set(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.training_scenes import PRESETS, DomainRandomisation
    from sorter.xrt_generator.training_set import write_training_set

    randomisation = DomainRandomisation(lithologies=PRESETS[args.preset])
    out = write_training_set(_cell(args), randomisation, args.out, args.scenes, seed=args.seed,
                             lines=args.lines, pixels=args.pixels, progress=not args.quiet)
    print(f"training set: {args.scenes} scenes in {out} (labels: {out / 'TRAINING.md'})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from sorter.xrt_generator.labelme import import_labelme

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
    from sorter.xrt_generator.calibrate import reference_r_table
    from sorter.xrt_generator.materials import Material, library_for_cell
    from sorter.xrt_generator.model import XraySetup, build_model

    cell = _cell(args)
    library = library_for_cell(cell)
    model = build_model(XraySetup.from_cell(cell),
                        [Material.pure(m) for m in library.minerals.values()])
    print(f"R = a_L / a_H at a_H = {args.a_high} (direct spectral integration), "
          f"{cell['cell']['name']}")
    print(f"{'material':14s} {'generator':>9s} {'reference':>9s} {'diff':>7s}")
    for name, (ours, theirs) in reference_r_table(model, library, args.a_high).items():
        print(f"{name:14s} {ours:9.3f} {theirs:9.3f} {ours - theirs:+7.3f}")
    low, high = model.flat_photons
    snr_low, snr_high = model.flat_snr
    print(f"open beam per pixel per line: {low:.0f} / {high:.0f} photons interacting in the "
          f"low / high layer, SNR {snr_low:.1f} / {snr_high:.1f}")
    return 0


def add_xray_parser(sub: Any) -> None:
    xray = sub.add_parser("xray", help="synthetic dual-energy XRT generator: datasets, figure, "
                                       "bench, calibration",
                          description="The dual-energy X-ray transmission generator the "
                                      "simulator renders through, and its tools.")
    xsub = xray.add_subparsers(dest="xray_command", required=True, title="xray commands",
                               metavar="XRAY_COMMAND")
    cell = [cell_options()]

    ds = xsub.add_parser("dataset", parents=cell,
                         help="write synthetic scenes (images, masks, truth)",
                         description="Render scenes of the cell's feed: raw low/high channels "
                                     "with dark/flat references, masks, thickness and truth.")
    ds.add_argument("--out", required=True, metavar="DIR", help="dataset folder")
    ds.add_argument("--scenes", type=positive_int, default=10, help="scenes to render (default 10)")
    ds.add_argument("--seed", type=int, default=0, help="random seed; scenes are deterministic "
                                                        "by seed (default 0)")
    ds.add_argument("--lines", type=positive_int, default=512,
                    help="lines per scene, along travel (default 512)")
    ds.add_argument("--pixels", type=positive_int, default=None,
                    help="pixels across (default: the cell's detector)")
    ds.add_argument("--coverage", type=fraction, default=0.3,
                    help="share of the belt area under particles, 0-1 (default 0.3)")
    ds.add_argument("--touching", type=fraction, default=0.2,
                    help="share of particles laid touching another, 0-1 (default 0.2)")
    ds.add_argument("--overlap", type=fraction, default=0.05,
                    help="share of particles laid overlapping another, 0-1 (default 0.05)")
    ds.add_argument("--size-class", type=_size_class, default=None, metavar="LO-HI",
                    help="sieve class in mm, e.g. 10-15 (default: the cell's feed sizes)")
    ds.add_argument("--rgb", action="store_true", help="also write the top-view camera image")
    ds.add_argument("--quiet", action="store_true", help="no progress bar")
    ds.set_defaults(func=cmd_dataset)

    ts = xsub.add_parser("training-set", parents=cell,
                         help="domain-randomised scenes with segmentation labels",
                         description="Render scenes for a learned segmenter: every scene "
                                     "draws pixel pitch, belt speed, tube current, detector "
                                     "gains and crosstalk, belt, feed, coverage and touching "
                                     "and stacked particles; labels: instances and belt / "
                                     "interior / boundary / overlap classes. The cell gives "
                                     "the detector.")
    ts.add_argument("--out", required=True, metavar="DIR", help="training-set folder")
    ts.add_argument("--scenes", type=positive_int, default=100,
                    help="scenes to render (default 100)")
    ts.add_argument("--seed", type=int, default=0, help="random seed; scene i is the same for "
                                                        "a seed however many are made "
                                                        "(default 0)")
    ts.add_argument("--lines", type=positive_int, default=256,
                    help="lines per scene, along travel (default 256)")
    ts.add_argument("--pixels", type=positive_int, default=256,
                    help="pixels across (default 256)")
    ts.add_argument("--preset", choices=("copper", "lithium", "mixed"), default="mixed",
                    help="feed: copper (chalcopyrite in quartz), lithium (spodumene in "
                         "pegmatite, basalt), or mixed: each scene one of them (default mixed)")
    ts.add_argument("--quiet", action="store_true", help="no progress bar")
    ts.set_defaults(func=cmd_training_set)

    lm = xsub.add_parser("import-labelme", help="Labelme JSON files -> the dataset format",
                         description="Convert hand-labelled Labelme polygons into the dataset "
                                     "format written by `sorter xray dataset`.")
    lm.add_argument("json", nargs="+", help="Labelme .json files")
    lm.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write")
    lm.add_argument("--labels", nargs="*", default=None, metavar="NAME",
                    help="category names in id order (default: sorted labels found)")
    lm.add_argument("--quiet", action="store_true", help="no progress bar")
    lm.set_defaults(func=cmd_import)

    fig = xsub.add_parser("figure", help="low, high, R and mask for a copper and a lithium "
                                         "scene (PNG)",
                          description="One row per cell: low and high channel, R, mask and "
                                      "camera view of a rendered scene.")
    fig.add_argument("--out", default="results/xray-figure.png", metavar="PNG",
                     help="image to write (default results/xray-figure.png)")
    fig.add_argument("--cells", nargs="+", metavar="FILE",
                     default=[str(REPO_CONFIG / "cell.yaml"),
                              str(REPO_CONFIG / "cell_lithium.yaml")],
                     help="cell descriptions, one row each (default config/cell.yaml "
                          "config/cell_lithium.yaml)")
    fig.add_argument("--seed", type=int, default=4, help="random seed (default 4)")
    fig.add_argument("--lines", type=positive_int, default=320,
                     help="lines per scene (default 320)")
    fig.set_defaults(func=cmd_figure)

    bench = xsub.add_parser("bench", parents=cell,
                            help="Mpx/s per channel vs real time and vs direct spectral "
                                 "integration",
                            description="Time the generator on the cell's detector against the "
                                        "line rate it must keep up with.")
    bench.add_argument("--lines", type=positive_int, default=2000,
                       help="lines to render per repeat (default 2000)")
    bench.add_argument("--pixels", type=positive_int, default=1500,
                       help="pixels across (default 1500: 1.2 m at 0.8 mm)")
    bench.add_argument("--coverage", type=fraction, default=0.25,
                       help="share of the belt area under particles, 0-1 (default 0.25)")
    bench.add_argument("--repeats", type=positive_int, default=3,
                       help="timed repeats, the best counts (default 3)")
    bench.add_argument("--json", default=None, metavar="FILE",
                       help="also write the numbers here")
    bench.set_defaults(func=cmd_bench)

    cal = xsub.add_parser("calibrate", parents=cell,
                          help="H-L threshold curve and effective high energy for the cell "
                               "(YAML to paste)",
                          description="Compute classification.r_threshold_curve and "
                                      "detector.effective_energy_high_kev for the cell.")
    cal.set_defaults(func=cmd_calibrate)

    rt = xsub.add_parser("rtable", parents=cell,
                         help="R by mineral at equal a_H, next to the reference values",
                         description="R = a_L / a_H of every mineral of the cell's library by "
                                     "direct spectral integration, beside reference values.")
    rt.add_argument("--a-high", type=positive_float, default=0.5,
                    help="high-energy attenuation a_H at which R is compared (default 0.5)")
    rt.set_defaults(func=cmd_rtable)
