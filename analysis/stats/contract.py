"""The `analyze_csv` contract: argv in, one JSON-ready dict out.

Subcommands, flags and output keys are fixed by `../shared/reference/README.md`. The Django
management command `analyze_csv` is a thin wrapper around `run`; keeping the dispatch here
lets the reference tests call the engine without Django.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from .errors import AnalysisInputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit; we want a clear exception
        raise AnalysisInputError(f"{message}\n{self.format_usage()}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="analyze_csv", description="Analyse a long CSV table")
    sub = parser.add_subparsers(dest="subcommand", required=True, parser_class=_Parser)

    def design(p, *, between=True):
        p.add_argument("file")
        p.add_argument("--subject", required=True)
        if between:
            p.add_argument("--between")
        p.add_argument("--within", required=True)

    rm = sub.add_parser("rm-anova", help="SPSS GLM repeated measures")
    design(rm)
    rm.add_argument("--dv", action="append", required=True)
    for name in ("lmm", "ancova"):
        p = sub.add_parser(name)
        design(p)
        p.add_argument("--dv", required=True)
    paired = sub.add_parser("paired", help="single-arm pre/post")
    design(paired, between=False)
    paired.add_argument("--dv", required=True)
    paired.add_argument("--reliability", type=float, required=True)
    paired.add_argument("--sd", type=float, required=True)
    rel = sub.add_parser("reliability", help="Cronbach's alpha")
    rel.add_argument("file")
    rel.add_argument("--items", nargs="+", required=True)
    return parser


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV keeping every cell as text: empty fields become missing, nothing else is guessed."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise AnalysisInputError(f"file not found: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AnalysisInputError(f"{path} is not a readable CSV table (UTF-8, comma-separated): {exc}") from None


def run(argv: list[str]) -> dict:
    args = build_parser().parse_args(argv)
    frame = read_table(args.file)
    if args.subcommand == "rm-anova":
        from .rm_anova import rm_anova

        result = rm_anova(frame, subject=args.subject, within=args.within, dvs=args.dv, between=args.between)
    elif args.subcommand == "ancova":
        from .ancova import baseline_ancova

        result = baseline_ancova(frame, subject=args.subject, within=args.within, dv=args.dv, between=args.between)
    elif args.subcommand == "lmm":
        from .mixed_model import linear_mixed_model

        result = linear_mixed_model(frame, subject=args.subject, within=args.within, dv=args.dv, between=args.between)
    elif args.subcommand == "paired":
        from .prepost import paired_prepost

        result = paired_prepost(
            frame, subject=args.subject, within=args.within, dv=args.dv, reliability=args.reliability, sd=args.sd
        )
    else:
        from .reliability import cronbach_alpha

        result = cronbach_alpha(frame, items=args.items)
    return {"subcommand": args.subcommand, **result.as_dict()}
