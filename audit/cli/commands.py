"""The ``mia-audit`` command line.

Exit codes: 0 done; 1 a privacy check failed (``check`` alone); 2 bad input or usage, a
model that fails on the records, or too little memory (one line on stderr, no traceback, no
half-written output); 3 a bug in mia-audit (one line asking for a bug report, naming the log
file that holds the full traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from mia_audit.errors import MiaAuditError, one_line as _one_line

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_BUG = 0, 1, 2, 3
#: where an error comes from when the user's model, not mia-audit, raised it
MODEL_RUNTIMES = ("xgboost", "onnxruntime", "onnx", "sklearn", "torch")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise _UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


DEMO_UNLEARNERS = ("retrain", "finetune", "neggrad+", "scrub", "sisa", "eupg-kanon")
DEMO_REFERENCE_ATTACKS = ("lira-online", "lira-offline", "two-model")
DEMO_DIGITS_UNLEARNERS = ("retrain", "finetune", "rotate", "gradient-mask")
DEMO_DIGITS_DIR = "digits"


def demo_config(*, seed: int = 0, device: str = "auto", quick: bool = False):
    """The demo: an MLP on the bundled Adult data, a random 5 % forget set, every
    single-model attack, LiRA (16 reference models) and the two-model attack, with and
    without the label-only and (fitted) temperature mitigations, and the default unlearners
    (:data:`DEMO_UNLEARNERS`) against retraining."""
    from mia_audit.config import (AttackConfig, AuditConfig, DataConfig, ForgetConfig, MetricsConfig, ModelConfig,
                         ReferenceConfig, ReportConfig)

    if quick:
        data = DataConfig(name="adult", train_size=2000, test_size=2000)
        model = ModelConfig(name="mlp", params={"hidden": [128, 128]}, training={"epochs": 20})
        metrics = MetricsConfig(n_bootstrap=50)
    else:
        data = DataConfig(name="adult", train_size=10000, test_size=10000)
        model = ModelConfig(name="mlp", params={"hidden": [256, 256]}, training={"epochs": 30})
        metrics = MetricsConfig(n_bootstrap=200)
    data.validation_size = 1000  # from records outside train and test: fits the temperature
    mitigations = [{"name": "label-only"}, {"name": "temperature", "T": "fit"}]
    from mia_audit.attacks import signal_attack_names

    attacks = AttackConfig(names=signal_attack_names() + list(DEMO_REFERENCE_ATTACKS), members=["train", "forget"])
    references = ReferenceConfig(n_models=8 if quick else 16, shadow_models=2 if quick else 4,
                                 shadow_pool=1000 if quick else 2000)
    return AuditConfig(data=data, model=model, forget=ForgetConfig(kind="random", fraction=0.05),
                       attacks=attacks, metrics=metrics, mitigations=mitigations,
                       unlearners=[{"name": n} for n in DEMO_UNLEARNERS], references=references,
                       report=ReportConfig(slices=["sex", "race"]), seed=seed, device=device)


def demo_digits_config(*, seed: int = 0, device: str = "auto", quick: bool = False):
    """The demo's second part: a small CNN on scikit-learn's digits (8x8 images, bundled with
    scikit-learn), a random 10 % forget set, and convolution unlearners against retraining."""
    from mia_audit.config import AttackConfig, AuditConfig, DataConfig, ForgetConfig, MetricsConfig, ModelConfig

    data = DataConfig(name="digits", train_size=0.5, test_size=0.4, validation_size=0.1)
    model = ModelConfig(name="cnn", params={"channels": [16, 32], "hidden": 64},
                        training={"epochs": 10 if quick else 30})
    return AuditConfig(data=data, model=model, forget=ForgetConfig(kind="random", fraction=0.1),
                       attacks=AttackConfig(names=["loss", "entropy", "loss-lr", "gap"], members=["train", "forget"]),
                       metrics=MetricsConfig(n_bootstrap=50 if quick else 200),
                       unlearners=[{"name": n} for n in DEMO_DIGITS_UNLEARNERS], seed=seed, device=device)


def _run_and_write(config, out: str, *, quiet: bool) -> int:
    from mia_audit.reports.text_summary import summary_table, verdict_block

    from mia_audit.run.pipeline import check_out_dir, run_audit, write_outputs

    check_out_dir(out)  # a bad --out fails now, not after the audit
    start = time.perf_counter()
    if config.target is not None:  # a deployed model, audited from files or an endpoint
        from mia_audit.run.deployed import run_deployed_audit

        result = run_deployed_audit(config.target, attacks=config.attacks.names,
                                    attack_options=config.attacks.options, metrics=config.metrics,
                                    seed=config.seed, mitigations=config.mitigations, policy=config.policy,
                                    references=config.references)
    else:
        result = run_audit(config)
    from mia_audit.progress import phase

    with phase(f"writing the report to {out}"):
        paths = write_outputs(result, out)
    if not quiet:
        print(summary_table(result), end="")
        print(f"\nwrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - start:.1f} s")
        print(f"\nverdict ({out}):\n{verdict_block(result)}", end="")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from mia_audit.cli.check import policy_from_args

    import dataclasses

    policy = policy_from_args(args)  # a new, validated configuration each, never one changed after the fact
    config = dataclasses.replace(demo_config(seed=args.seed, device=args.device, quick=args.quick), policy=policy)
    digits = dataclasses.replace(demo_digits_config(seed=args.seed, device=args.device, quick=args.quick),
                                 policy=policy)
    from mia_audit.run.pipeline import check_out_dir

    check_out_dir(Path(args.out) / DEMO_DIGITS_DIR)
    code = _run_and_write(config, args.out, quiet=args.quiet)
    if not args.quiet:
        print(f"\n-- part 2: a CNN on digits, convolution unlearners (written to {Path(args.out) / DEMO_DIGITS_DIR})")
    return code or _run_and_write(digits, str(Path(args.out) / DEMO_DIGITS_DIR), quiet=args.quiet)


def _cmd_run(args: argparse.Namespace) -> int:
    import dataclasses

    from mia_audit.config import AuditConfig

    config = AuditConfig.from_toml(args.config)
    from mia_audit.cli.check import policy_from_args

    # the flags override the file: a new config, validated like the file's (dataclasses.replace)
    overrides: dict = {"policy": policy_from_args(args, config.policy)}  # the flags override [policy]
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.device is not None:
        overrides["device"] = args.device
    out = args.out or config.out
    if not out:
        raise _UsageError("mia-audit run: --out DIR is required (or set out = \"DIR\" in the config)")
    config = dataclasses.replace(config, **overrides)
    return _run_and_write(config, out, quiet=args.quiet)


def _cmd_report(args: argparse.Namespace) -> int:
    """Re-render a result JSON (no model, no data, no GPU) to PDF and/or Markdown."""
    from mia_audit.reports.markdown_summary import summary_markdown
    from mia_audit.reports.pdf_report import render_pdf
    from mia_audit.reports.result_json import load_result, write_bytes_atomic

    from mia_audit.cli.check import policy_from_args
    from mia_audit.gates import check_result_entries
    from mia_audit.run.attack_entries import with_verdict
    from mia_audit.run.pipeline import check_out_dir
    from mia_audit.verdict import Policy

    if not args.pdf and not args.md:
        raise _UsageError("mia-audit report: give --pdf OUT.pdf and/or --md OUT.md")
    result = load_result(args.result)
    check_result_entries(result, "result")
    flags = args.max_auc is not None or args.max_tpr is not None or args.require is not None
    if flags or not isinstance(result.get("verdict"), dict):  # a new policy, or a result from before verdicts
        stored = (result.get("verdict") or {}).get("policy") if isinstance(result.get("verdict"), dict) else None
        result = with_verdict(dict(result), policy_from_args(args, Policy.from_dict(stored, where="verdict.policy")))
    targets = [(p, kind) for p, kind in ((args.pdf, "pdf"), (args.md, "md")) if p]
    for path, _ in targets:
        check_out_dir(os.path.dirname(os.path.abspath(path)))
    rendered = [(path, render_pdf(result) if kind == "pdf" else summary_markdown(result).encode("utf-8"))
                for path, kind in targets]
    for path, data in rendered:
        write_bytes_atomic(path, data)
        if not args.quiet:
            print(f"wrote {path}")
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    from mia_audit.attacks import ATTACKS
    from mia_audit.unlearners import UNLEARNERS

    from mia_audit.data import DATASETS, PREDICATES
    from mia_audit.mitigations import MITIGATIONS
    from mia_audit.models import MODELS

    sections = [
        ("attacks", ATTACKS), ("unlearners", UNLEARNERS), ("datasets", DATASETS),
        ("models", MODELS), ("forget predicates", PREDICATES), ("mitigations", MITIGATIONS),
    ]
    for title, registry in sections:
        print(f"{title}:")
        if not len(registry):
            print("  (none yet)")
        for name in registry.names():
            print(f"  {name:<18} {registry.describe(name)}")
    return EXIT_OK


def _device_arg(text: str) -> str:
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N; got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    from mia_audit import __version__
    from mia_audit.cli import check as cli_check

    parser = _Parser(prog="mia-audit", description="Membership-inference audits of trained and unlearned models.")
    parser.add_argument("--version", action="version", version=f"mia-audit {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def common(p: argparse.ArgumentParser, *, seed_default) -> None:
        p.add_argument("--seed", type=int, default=seed_default, help="the one seed of the audit")
        p.add_argument("--device", type=_device_arg, default=None if seed_default is None else "auto",
                       metavar="{auto,cpu,cuda,cuda:N}",
                       help="where models train and run ('auto': a GPU when there is one)")
        p.add_argument("--quiet", action="store_true", help="print nothing on success")
        from mia_audit.threads import add_threads_argument

        add_threads_argument(p)

    demo = sub.add_parser("demo", help="audit an MLP on the bundled Adult data and a CNN on digits, with unlearners")
    demo.add_argument("--out", default="mia-audit-demo", help="output directory (default: ./mia-audit-demo)")
    demo.add_argument("--quick", action="store_true", help="a smaller, faster run (seconds)")
    common(demo, seed_default=0)
    cli_check.add_policy_arguments(demo)
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run the audit a TOML configuration describes")
    run.add_argument("config", help="CONFIG.toml")
    run.add_argument("--out", default=None, help="output directory (overrides the config's out)")
    common(run, seed_default=None)
    cli_check.add_policy_arguments(run)
    run.set_defaults(func=_cmd_run)

    rep = sub.add_parser("report", help="render a result JSON to a PDF audit report and/or a Markdown summary")
    rep.add_argument("result", help="RESULT.json written by demo or run")
    rep.add_argument("--pdf", default=None, help="write the PDF report here")
    rep.add_argument("--md", default=None, help="write the Markdown summary here")
    rep.add_argument("--quiet", action="store_true", help="print nothing on success")
    cli_check.add_policy_arguments(rep)
    rep.set_defaults(func=_cmd_report)

    lst = sub.add_parser("list", help="show the registered attacks, unlearners, datasets, models and mitigations")
    lst.set_defaults(func=_cmd_list)

    cli_check.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_BAD_INPUT
        from mia_audit.progress import cli_output
        from mia_audit.threads import use_threads

        if args.command not in ("demo", "run"):
            return args.func(args)
        # phase lines on stderr (off with --quiet); --threads pins torch's threads (mia_audit.threads)
        with cli_output(quiet=args.quiet), use_threads(args.threads):
            return args.func(args)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except MiaAuditError as exc:
        print(f"mia-audit: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. a full disk or a read-only output directory
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"mia-audit: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mia-audit: interrupted; no output was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("mia-audit: error: out of memory; lower a size in the configuration (metrics.n_bootstrap, the data "
              "sizes, a batch size) or free memory", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        origin = _raised_in(exc)
        if origin in MODEL_RUNTIMES[:2]:  # the user's XGBoost / ONNX model refused the records
            print(f"mia-audit: error: the model ({origin}) failed on the records: {_one_line(exc)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        log = _write_crash_log(exc)
        print(f"mia-audit: internal error ({type(exc).__name__}: {_one_line(exc, 120)}); this is a bug in mia-audit: "
              f"please report it with the traceback in {log}", file=sys.stderr)
        return EXIT_BUG


def _raised_in(exc: BaseException) -> str:
    """The top-level package whose code raised ``exc`` (its class's module, else the innermost frame)."""
    module = type(exc).__module__.split(".")[0]
    if module in MODEL_RUNTIMES:
        return module
    tb = exc.__traceback__
    frame_module = ""
    while tb is not None:
        frame_module = str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return frame_module.split(".")[0]


def _write_crash_log(exc: BaseException) -> str:
    """The full traceback in a new file under the temporary folder; returns its path."""
    import tempfile
    import traceback

    from mia_audit import __version__

    fd, path = tempfile.mkstemp(prefix="mia-audit-crash-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"mia-audit {__version__}, python {sys.version.split()[0]}, argv {sys.argv!r}\n\n")
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
