"""The ``workbench`` commands about its judgments: the crisis screen, the behaviour coders, and how far both
agree with expert annotations (``validate``)."""

from __future__ import annotations

import json

__all__ = ["add"]


def _screen(args) -> int:
    from workbench.safety import escalation, screen

    if args.eval:  # a labelled file: recall, precision, subject accuracy, misses and false alarms
        from workbench.screen_eval import evaluate_file, format_report

        ev = evaluate_file(args.eval, locale=args.locale)
        if args.rates_only:  # a frozen split is measured without showing its messages
            ev.misses, ev.false_alarms = [], []
        print(json.dumps(ev.to_dict(), ensure_ascii=False, indent=2) if args.json else format_report(ev))
        return 0
    if args.train:  # train once (make setup does), or load: the held-out report either way
        from workbench.safety_model import learned

        print(json.dumps(learned().report, indent=2))
        return 0
    if not args.text:
        from workbench.errors import WorkbenchError

        raise WorkbenchError("Nothing to screen.", fix='give a message (workbench screen "…") or --eval FILE.jsonl')
    result = screen(args.text, locale=args.locale)
    print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) if args.json else
          "\n\n".join(filter(None, [result.summary(), escalation(result, locale=args.locale)])))
    return 0


def _coders(args) -> int:
    from workbench.behaviours import coders as C

    if args.train or args.cv:
        import sys

        from tqdm.auto import tqdm

        from workbench.behaviours.coded import load_epitome, load_mi_jsonl, mi_files
        from workbench.errors import WorkbenchError

        if not args.epitome:
            raise WorkbenchError("Training the coders needs the EPITOME files.",
                                 fix="give --epitome DIR (a folder with emotional-reactions.csv, "
                                     "interpretations.csv, explorations.csv)")
        pairs = load_epitome(args.epitome) + [p for f in mi_files() for p in load_mi_jsonl(f)]
        with tqdm(desc="Training the behaviour coders", unit="step", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            if args.cv:
                from workbench import io, validity

                def keep(report: dict) -> None:  # after every fold: a stopped run resumes from here
                    io.write_bytes(C.WEIGHTS / "cv.json", json.dumps(report, separators=(",", ":")).encode())
                    C.apply_cv()

                done = C.WEIGHTS / "cv.json"
                previous = json.loads(done.read_text()) if done.is_file() and not args.fresh else {}
                report = validity.cross_validate(pairs, args.cv, on_fold=keep, progress=progress,
                                                 previous=previous.get("oof", []) if previous.get("k") == args.cv
                                                 else [])
                keep(report)
                print(json.dumps(C.cv_summary(report), indent=1))
            if args.train:
                net, _ = C.fit(pairs, progress=progress)
                C.save(net, C.WEIGHTS, C.training_files(args.epitome))
                C.coders.cache_clear()
    model = C.coders()
    print(json.dumps({"weights": str(C.WEIGHTS), **model.manifest}, indent=1))
    return 0


def _validate(args) -> int:
    from workbench import io, validity

    report = validity.validate(args.data, args.format, rates_only=args.rates_only)
    if args.out:
        io.write_json(args.out, report)
    print(json.dumps(report, indent=1) if args.json or args.rates_only else validity.format_report(report))
    return 0


def add(sub) -> None:
    """The judgment commands, on the ``workbench`` parser's subcommands."""
    s = sub.add_parser("screen", help="screen a message for crisis risk; print the level and the first response")
    s.add_argument("text", nargs="?", default=None)
    s.add_argument("--eval", default=None, metavar="FILE.jsonl",
                   help="measure the screen on a labelled file (text, risk, subject[, id, category, level])")
    s.add_argument("--json", action="store_true", help="print risk, level, subject, categories, evidence as JSON")
    s.add_argument("--rates-only", action="store_true", help="with --eval: leave out the messages missed or flagged")
    s.add_argument("--train", action="store_true", help="train the screen's model now if needed (a few minutes)")
    s.add_argument("--locale", default=None, help="resources locale, e.g. US, UK, IN, ES (default: WORKBENCH_LOCALE "
                   "or the file's default)")
    s.set_defaults(func=_screen)

    s = sub.add_parser("coders", help="the learned behaviour coders: load (export once), train or cross-validate")
    s.add_argument("--train", action="store_true", help="train them again on --epitome and corpora/rubric/mi/train")
    s.add_argument("--cv", type=int, default=0, metavar="K", help="K-fold cross-validation, written to weights/cv.json "
                   "after each fold; folds it already holds for the same pairs are kept")
    s.add_argument("--fresh", action="store_true", help="with --cv: run every fold again")
    s.add_argument("--epitome", default=None, metavar="DIR", help="the EPITOME CSV folder (training only)")
    s.set_defaults(func=_coders)

    s = sub.add_parser("validate", help="agreement of the coders or T-BARS with an expert-annotated file")
    s.add_argument("--data", required=True, metavar="FILE", help="the annotated file (or EPITOME folder)")
    s.add_argument("--format", required=True, choices=("epitome", "mi", "ratings"),
                   help="epitome: its CSVs; mi: our JSONL or an AnnoMI-style CSV (utterance_text, interlocutor, "
                        "question_subtype, reflection_subtype); ratings: query, response and 1-5 per dimension")
    s.add_argument("--out", default=None, metavar="FILE.json", help="also write the report as JSON")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--rates-only", action="store_true", help="agreement only (for a frozen split)")
    s.set_defaults(func=_validate)
