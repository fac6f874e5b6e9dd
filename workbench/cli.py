"""The ``workbench`` command: every widget action is also one command here."""

from __future__ import annotations

import argparse
import json
import sys
import time

from workbench import cli_judgments as judgments
from workbench import cli_search as search
from workbench import cli_traces as traces

__all__ = ["build_parser", "main"]


def _pull(args) -> int:
    from workbench.models import registry

    spec = registry.resolve(args.model)
    t0 = time.perf_counter()
    if spec.kind == "tiny":
        print(f"{spec.name}: tokenizer ready in {registry.tokenizer_dir(force=args.force)}")
        return 0
    from workbench.models.embeddings import onnx_dir

    print(f"embeddings: ready in {onnx_dir()}")
    path = registry.ensure_cached(spec, progress=lambda m: print(m, file=sys.stderr), force=args.force)
    print(f"{spec.name}: ready in {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _info(args) -> int:
    from importlib.metadata import PackageNotFoundError, version

    import workbench
    from workbench import paths
    from workbench.models import registry

    def ver(pkg):
        try:
            return version(pkg)
        except PackageNotFoundError:
            return "not installed"

    cached = {s.name: registry.is_cached(s) for s in registry.list_models() if s.kind == "gguf"}
    info = {
        "workbench": workbench.__version__,
        "python": sys.version.split()[0],
        **{pkg: ver(pkg) for pkg in ("torch", "transformers", "optimum-onnx", "onnxruntime", "txtai", "peft")},
        "default_model": paths.default_model(),
        "backend": "torch",
        "models": [s.name for s in registry.list_models()],
        "cached": cached,
        "corpora": str(paths.corpora_dir()),
        "exports": str(paths.exports_dir()),
        "cache": str(paths.cache_dir()),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k:<{width}}  {v}")
    return 0


def _chat(args) -> int:
    from workbench.models import get_generator

    messages = ([{"role": "system", "content": args.system}] if args.system else [])
    messages.append({"role": "user", "content": args.message})
    gen = get_generator(args.model, progress=lambda m: print(m, file=sys.stderr))
    for piece in gen.stream(messages, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            seed=args.seed, no_repeat_ngram=args.no_repeat_ngram):
        print(piece, end="", flush=True)
    c = gen.last
    print()
    print(f"[{c.model} · {c.backend} · {c.prompt_tokens} prompt + {c.completion_tokens} new tokens · "
          f"{c.tokens_per_s:.1f} tok/s · {c.finish_reason}]", file=sys.stderr)
    return 0


def _demo(args) -> int:
    from workbench.demo import run_demo

    path = run_demo(model=args.model, out=args.out)
    print(path)
    return 0


def _profile_compare(args, progress) -> int:
    """``profile --compare base,cotherapist``: both configurations on the same respondents and forms."""
    from pathlib import Path

    from workbench import paths
    from workbench.population import compare_configs

    out = Path(args.out) if args.out else paths.exports_dir() / "profiles" / "compare"
    personas = 50 if args.personas is None else args.personas
    r = compare_configs(args.compare, model=args.model, forms=args.forms.split(","), personas=personas,
                        n_variants=args.variants, backend=args.backend, out_dir=out, progress=progress)
    print(file=sys.stderr)
    for config, trait, t in ((c, n, t) for c, d in r["configs"].items() for n, t in d["traits"].items()):
        print(f"{config:<12} {trait:<18} {t['mean']:.2f} [{t['ci_low']:.2f}, {t['ci_high']:.2f}]  alpha "
              f"{t['alpha']:.2f}  {'ok' if t['interpretable'] else 'not interpretable'}")
    for trait, d in r.get("shift", {}).items():
        print(f"shift {trait:<18} {d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
    print(out / "comparison.json")
    return 0


def _corpora_check(args) -> int:
    from workbench.corpus_check import check_all

    report = check_all(args.root, near_duplicate_threshold=args.threshold)
    print(report.text())
    return 0 if report.ok else 1


def _profile(args) -> int:
    from workbench.psychometrics import profile, save_profile

    last = [0]

    def progress(done, total):
        if done == total or done - last[0] >= max(1, total // 20):
            last[0] = done
            print(f"\r{done}/{total} item-variants scored", end="", file=sys.stderr, flush=True)

    from workbench import paths
    from workbench.io import check_writable

    check_writable(args.out or paths.exports_dir() / "profiles")  # before minutes of scoring, not after
    if args.compare:
        return _profile_compare(args, progress)
    model = args.model
    if args.adapter:  # an adapter is profiled as its merged model, which the registry loads by name
        from workbench.finetune import merged_model

        model = merged_model(args.adapter)
    from workbench.population import first_personas

    personas = first_personas(args.personas) if args.personas else None
    p = profile(model, args.inventory, persona=args.persona, personas=personas, backend=args.backend,
                n_variants=args.variants, progress=progress)
    print(file=sys.stderr)
    path = save_profile(p, args.out)
    for trait, t in p.traits.items():
        verdict = "ok" if t.interpretable else f"NOT INTERPRETABLE: {t.reason}"
        print(f"{trait:<20} {t.mean:.2f} [{t.ci_low:.2f}, {t.ci_high:.2f}]  alpha {t.alpha:.2f}  {verdict}")
    print(path)
    return 0


def _index(args) -> int:
    from tqdm.auto import tqdm

    from workbench import retrieval

    if args.upsert:
        out = f"{args.name}: added {retrieval.Index(args.name).upsert(args.upsert)} chunks from {args.upsert}"
    else:
        with tqdm(unit="chunk", desc="embedding", file=sys.stderr, leave=False) as bar:
            def progress(done, total, _message):
                if bar.total != total:
                    bar.reset(total=total)  # the clock starts at the first batch, not at txtai's import
                bar.n = done
                bar.refresh()

            out = (retrieval.build_index(args.name, args.docs, progress=progress) if args.docs
                   else retrieval.rebuild(args.name, progress))  # a rebuild keeps the index's document folders
        m = retrieval.manifest(args.name)
        print(f"{m['chunks']} chunks ({m['embedded']} embedded, {m['reused']} reused) in {m['build_seconds']} s",
              file=sys.stderr)
    docs = retrieval.describe(retrieval.manifest(args.name).get("documents"))  # indexed, and skipped with why
    if docs:
        print(docs, file=sys.stderr)
    print(out)
    return 0


def _ask(args) -> int:
    from workbench.agent import Agent, AgentConfig

    config = AgentConfig.preset(args.config)
    if args.locale:
        config.locale = args.locale
    trace = Agent(args.model, args.backend, config).run(args.query)
    print(trace.answer)
    for s in trace.spans[1:]:
        decision = s.attributes.get("decision", "")
        print(f"  {s.name:<14} {s.kind:<10} {s.duration_ms:8.0f} ms  {decision}", file=sys.stderr)
    if args.trace:
        print(f"trace: {trace.save(args.trace, append=True)}", file=sys.stderr)
    return 0


def _finetune(args) -> int:
    from workbench.finetune import TrainConfig, train

    config = TrainConfig(name=args.name, model=args.model, data=args.data or [], seed=args.seed)
    for key in ("system", "steps", "epochs", "lr", "rank", "layers", "grad_accum", "tokens_per_batch", "save_every",
                "eval_every"):
        if getattr(args, key) is not None:
            setattr(config, key, getattr(args, key))

    def progress(step, steps, rec):
        ev = f"  eval {rec['eval_loss']:.3f}" if rec.get("eval_loss") is not None else ""
        print(f"step {step}/{steps}  loss {rec['train_loss']:.3f}{ev}  {rec['tok_s']:.0f} tok/s", file=sys.stderr)

    r = train(config, resume=args.resume, progress=progress)
    print(f"{r.name}: {r.status} after {r.step}/{r.steps} steps in {r.wall_s:.0f} s "
          f"({r.train_tok_s:.0f} tok/s); eval loss {r.eval_loss}", file=sys.stderr)
    print(r.adapter_dir or f"stopped; resume with: workbench finetune --name {r.name} --resume")
    return 0 if r.status == "done" else 1


def _merge(args) -> int:
    from workbench.finetune import merge

    print(merge(args.name, args.out))
    return 0


def _export(args) -> int:
    from workbench.parity import comparison_table, export_and_compare

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    r = export_and_compare(args.name, variants, progress=lambda m: print(m, file=sys.stderr), force=args.force)
    print(comparison_table(r))
    print(r["export"].root)
    return 0


def _evaluate(args) -> int:
    from workbench.evaluate import evaluate
    from workbench.results import summary_frame
    from workbench.scaleout import rank_label

    who = rank_label()  # under accelerate launch each process reports on a line of its own

    def progress(done, total):
        print(f"{who}{done}/{total}" if who else f"\r{done}/{total}", end="\n" if who else "", file=sys.stderr,
              flush=True)

    r = evaluate(args.queries, args.configs, model=args.model, backend=args.backend, out=args.out,
                 progress=progress, train_missing=args.train_missing, max_new_tokens=args.max_new_tokens,
                 limit=args.limit)
    if r.rank:
        print(f"{who}{r.status}: {r.done}/{r.total} of its share in {r.wall_s:.0f} s", file=sys.stderr)
        return 0 if r.status == "done" else 1
    print(file=sys.stderr)
    print(summary_frame(r.summary).to_string(float_format=lambda v: f"{v:.3f}"))
    by_rank = f" (new pairs by rank: {r.summary['pairs_by_rank']})" if who else ""
    print(f"{r.status}: {r.done}/{r.total} in {r.wall_s:.0f} s{by_rank} -> {r.out_dir}", file=sys.stderr)
    return 0 if r.status == "done" else 1


def build_parser() -> argparse.ArgumentParser:
    from workbench.exitcodes import EXIT_CODES

    p = argparse.ArgumentParser(prog="workbench", description="coTherapist Workbench command line", epilog=EXIT_CODES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("pull", help="convert and cache a model (the default one unless named)")
    s.add_argument("--model", default=None)
    s.add_argument("--force", action="store_true", help="convert again even if the cache looks intact (repairs it)")
    s.set_defaults(func=_pull)

    s = sub.add_parser("info", help="versions, paths, models and cache state")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_info)

    s = sub.add_parser("chat", help="answer one message, streaming the reply")
    s.add_argument("message")
    s.add_argument("--model", default=None)
    s.add_argument("--system", default=None, help="system prompt")
    s.add_argument("--max-new-tokens", type=int, default=256)
    s.add_argument("--temperature", type=float, default=0.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-repeat-ngram", type=int, default=0, metavar="N",
                   help="never repeat an N-gram of the answer's own tokens (N >= 2; 0 = off)")
    s.set_defaults(func=_chat)

    s = sub.add_parser("demo", help="run the demo pipeline and write a self-contained HTML report")
    s.add_argument("--model", default=None)
    s.add_argument("--out", default=None, help="output directory (default exports/demo)")
    s.set_defaults(func=_demo)

    s = sub.add_parser("profile", help="psychometric profile of a model by option likelihood")
    s.add_argument("--model", default=None)
    s.add_argument("--adapter", default=None, help="a LoRA adapter from exports/adapters (merged on first use)")
    s.add_argument("--backend", default="torch", choices=["torch", "onnx"], help="onnx runs the int8 export")
    s.add_argument("--persona", default=None, help="system prompt id from the prompt library")
    s.add_argument("--inventory", default="bigfive",
                   help="shipped name (bigfive, empathy) or a .yaml, IPIP-style .csv or PsychoBench .json file")
    s.add_argument("--variants", type=int, default=8, help="prompt variants per item (respondents)")
    s.add_argument("--personas", type=int, default=None,
                   help="the first N personas of the respondent population (default: none, so the variants alone "
                   "are the respondents; 50 with --compare)")
    s.add_argument("--compare", default=None, metavar="CONFIGS",
                   help="e.g. base,cotherapist: profile each on the same respondents and forms, write comparison.json")
    s.add_argument("--forms", default="bigfive,bigfive_short", help="with --compare: the forms (MTMM needs two)")
    s.add_argument("--out", default=None, help="output directory (writes profile.json, responses.jsonl)")
    s.set_defaults(func=_profile)

    judgments.add(sub)  # screen, coders, validate
    traces.add(sub)  # trace export

    s = sub.add_parser("index", help="build the retrieval index over the knowledge cards (+ your documents)")
    s.add_argument("--name", default="knowledge")
    s.add_argument("--docs", default=None, help="a folder of .md/.txt/.pdf/.jsonl/.csv documents to include "
                   "(default: the folders the index already holds); files it cannot read are listed, with why")
    s.add_argument("--upsert", default=None, help="add a folder of documents to an existing index")
    s.set_defaults(func=_index)

    search.add(sub)  # search, marking hits under the score floor

    s = sub.add_parser("ask", help="answer through the coTherapist agent loop, with a trace")
    s.add_argument("query")
    s.add_argument("--model", default=None)
    s.add_argument("--backend", default="torch")
    s.add_argument("--config", default="cotherapist", help="base, prompted, rag or cotherapist (full)")
    s.add_argument("--locale", default=None, help="country code for crisis resources (default from corpora)")
    s.add_argument("--trace", default=None, help="append the trace (JSON lines) to this file")
    s.set_defaults(func=_ask)

    s = sub.add_parser("finetune", help="train a LoRA adapter on dialogues (exports/adapters/NAME)",
                       description="Single process here; on several devices run it under "
                       "`accelerate launch -m workbench.cli finetune …`.")
    s.add_argument("--name", default="cotherapist")
    s.add_argument("--model", default=None)
    s.add_argument("--data", action="append", help="dialogue file or folder (repeatable; default: shipped dialogues)")
    s.add_argument("--system", choices=["agent", "persona", "none"], default=None,
                   help="each dialogue's system message: the agent's draft prompt with retrieved facts (default), "
                   "the persona alone, or none")
    s.add_argument("--steps", type=int, default=None, help="optimiser steps (default: one epoch)")
    s.add_argument("--epochs", type=float, default=None)
    s.add_argument("--lr", type=float, default=None)
    s.add_argument("--rank", type=int, default=None, help="LoRA rank")
    s.add_argument("--layers", type=int, default=None, help="adapt the top N layers (0 = all)")
    s.add_argument("--grad-accum", type=int, default=None)
    s.add_argument("--tokens-per-batch", type=int, default=None)
    s.add_argument("--save-every", type=int, default=None)
    s.add_argument("--eval-every", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this name")
    s.set_defaults(func=_finetune)

    s = sub.add_parser("merge", help="merge an adapter into its base: exports/models/NAME, loadable by name")
    s.add_argument("name")
    s.add_argument("--out", default=None)
    s.set_defaults(func=_merge)

    s = sub.add_parser("export", help="export a model to ONNX variants; parity and speed against torch")
    s.add_argument("name", nargs="?", default=None, help="model name or path (default: the default model)")
    s.add_argument("--variants", default="fp32,int8,int4", help="comma-separated: fp32, int8, int4")
    s.add_argument("--force", action="store_true", help="rebuild the variants even if intact (repairs a damaged one)")
    s.set_defaults(func=_export)

    s = sub.add_parser("evaluate", help="compare configurations (base, prompted, lora, rag, cotherapist) on queries")
    s.add_argument("--queries", default=None, help="JSONL with at least id and text (default: the shipped queries)")
    s.add_argument("--configs", default="base,cotherapist", help="comma-separated configurations")
    s.add_argument("--model", default=None)
    s.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    s.add_argument("--limit", type=int, default=None, help="only the first N queries")
    s.add_argument("--max-new-tokens", type=int, default=200)
    s.add_argument("--train-missing", action="store_true", help="train the cotherapist adapter if it is missing")
    s.add_argument("--out", default=None, help="output directory (default: exports/evaluations/<time>); "
                   "an existing one resumes. Several processes: accelerate launch --multi_gpu --num_processes N "
                   "-m workbench.cli evaluate ...")
    s.set_defaults(func=_evaluate)

    s = sub.add_parser("corpora", help="validate the shipped (or your) corpora")
    cs = s.add_subparsers(dest="action", required=True)
    c = cs.add_parser("check", help="validate every corpus file; exit 1 on any problem")
    c.add_argument("--root", default=None, help="corpora directory (default: the shipped corpora)")
    c.add_argument("--threshold", type=float, default=None,
                   help="cosine above which a query counts as a near-duplicate of a training dialogue")
    c.set_defaults(func=_corpora_check)
    return p


def main(argv=None) -> int:
    """Run one command; the exit status is one of ``workbench.exitcodes`` (see ``workbench --help``)."""
    from workbench.exitcodes import run

    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
