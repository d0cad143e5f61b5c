"""The demo's whole workflow through the Python library: train a ladder, classify every curve,
say what it found, forecast from the small models, write the report.

    python examples/demo_workflow.py                      # the demo's ladder (~4 min, 2 cores)
    python examples/demo_workflow.py --preset micro       # two tiny models, seconds

Rerunning with the same --out only reads the finished run."""

import argparse

import emergelab as el


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--out", default="emergelab-demo-lib")
    args = parser.parse_args()

    run = el.run(args.preset, out=args.out)                       # resumable; locked while it runs
    print(run.to_frame().groupby("metric")["value"].describe().round(3))

    verdicts = el.analyze(run.out)                                # every curve: kind, threshold, why
    table = verdicts.to_frame()
    table = table[table["metric"].isin(["exact_match", "token_accuracy", "target_logprob"])]
    print(table[["task", "variant", "metric", "classification", "emergence", "threshold", "why"]]
          .to_string(index=False))

    sizes = sorted(run.to_frame()["params_nonembed"].dropna().unique())
    if len(sizes) >= 5:  # forecast the two largest members from the others
        forecast = el.predict(run.out, train_below=float(sizes[-2]))
        print(forecast.to_frame()[["task", "variant", "metric", "signal", "status"]]
              .to_string(index=False))

    page = el.report(run.out, run.out / "report.html")           # one offline page
    print(f"report: {page}")


# the local pool starts its workers by spawning: they import this file, and must not rerun it
if __name__ == "__main__":
    main()
