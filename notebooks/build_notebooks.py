"""Write the example notebooks from the cell sources below, without outputs.

Run: python notebooks/build_notebooks.py      (rewrites notebooks/*.ipynb; commit the result)
     python notebooks/build_notebooks.py DIR  (writes them to DIR instead, e.g. to compare)

The notebooks are generated so that a review reads plain Python, the stored JSON stays small
(no outputs, no execution counts) and cell ids stay the same from one build to the next: the
tests find cells by id. Edit the cells here, never the .ipynb files.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

Cell = tuple[str, str, str]
"""(cell id, "md" or "code", source)."""


def md(cell_id: str, source: str) -> Cell:
    return (cell_id, "md", source)


def code(cell_id: str, source: str) -> Cell:
    return (cell_id, "code", source)


SESSIONS: list[Cell] = [
    md(
        "title",
        """
        # Exploring a listening log

        What a next-track model learns from: a log cut into listening sessions. This notebook
        loads a log, sessionises it with `segue.build_sessions`, prints the row accounting of
        every stage, and plots session lengths, the gaps between plays, skips, the popularity
        curve and the activity per listener.

        It runs in seconds on segue's seeded synthetic log. To look at your own listening,
        switch the source in the cell marked **Your data**.
        """,
    ),
    code(
        "parameters",
        """
        # Parameters (tests shrink them; raise them for a closer look).
        N_USERS = 300
        N_EVENTS = 30_000
        SEED = 0
        SESSION_GAP = "30min"  # inactivity that ends a session
        SKIP_MIN_MS = 30_000  # plays shorter than this are skips
        """,
    ),
    code(
        "imports",
        """
        %matplotlib inline
        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd

        import segue
        from segue.columns import Columns
        from segue.data.readers import FORMATS
        """,
    ),
    md(
        "your-data-intro",
        """
        ## Your data

        The default is the bundled synthetic log (`segue.generate_listening_log`): listeners
        with genre tastes, favourite tracks, album play-throughs and skips. To explore another
        log, comment out the first line of the next cell and uncomment one of the examples.
        `segue.read_log` reads a file, a folder or a .zip; with `format=None` it detects the
        format from the content. The formats it knows are listed below the cell.
        """,
    ),
    code(
        "your-data",
        """
        # ---- Your data: switch the source here ----------------------------------------------
        log = segue.generate_listening_log(n_users=N_USERS, n_events=N_EVENTS, seed=SEED)
        # A Spotify "Download your data" export (folder, .zip or JSON files):
        # log = segue.read_log("my_spotify_data.zip", format="spotify_extended", user="me")
        # The Last.fm-1K dataset:
        # log = segue.read_log("userid-timestamp-artid-artname-traid-traname.tsv",
        #                      format="lastfm_1k")
        # Your Last.fm scrobbles exported as CSV (artist, album, track, date):
        # log = segue.read_log("scrobbles.csv", format="lastfm_csv")
        # Any CSV, with your column names mapped onto segue's:
        # log = segue.read_log("plays.csv", format="csv",
        #                      columns={"user_id": "user", "track_id": "song",
        #                               "timestamp": "played_at"})
        # -------------------------------------------------------------------------------------
        print(log.summary())
        """,
    ),
    code(
        "formats",
        """
        for name, fmt in FORMATS.items():
            print(f"{name:18} {fmt.description}")
        """,
    ),
    md(
        "sessions-intro",
        """
        ## Sessions

        A session ends after `SESSION_GAP` without activity. Plays shorter than `SKIP_MIN_MS`
        (or flagged as skipped by the source) stay in the session, marked `is_skip`: a skip is
        a signal, not noise. Every stage reports rows in, rows kept and rows dropped by reason.
        """,
    ),
    code(
        "reports",
        """
        sessions = segue.build_sessions(log, SESSION_GAP, skip_rule=segue.SkipRule(SKIP_MIN_MS))
        print(sessions.report)  # the reports before it were printed with the log
        events = sessions.events
        events.head()
        """,
    ),
    md(
        "lengths-intro",
        """
        ### Session lengths

        The model reads the current session as context; long sessions give it more to go on.
        """,
    ),
    code(
        "session-lengths",
        """
        lengths = events.groupby(Columns.SESSION).size()
        print(lengths.describe().round(1).to_string())
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist(lengths, bins=np.arange(1, lengths.max() + 2) - 0.5)
        ax.set(xlabel="events per session", ylabel="sessions", title="Session lengths")
        ax.set_yscale("log")
        plt.show()
        """,
    ),
    md(
        "gaps-intro",
        """
        ### Inactivity gaps

        Time between consecutive events of a listener. Within a session plays follow each
        other after about a track's length; between sessions hours pass. The session gap
        should fall in the valley between the two modes.
        """,
    ),
    code(
        "gaps",
        """
        gaps = events.groupby(Columns.USER)[Columns.TIMESTAMP].diff().dt.total_seconds()
        gaps = gaps[gaps > 0]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist(gaps, bins=np.logspace(0, np.log10(gaps.max()) + 0.1, 60))
        gap = pd.Timedelta(SESSION_GAP).total_seconds()
        ax.axvline(gap, color="k", ls="--", label="session gap")
        ax.set_xscale("log")
        ax.set(xlabel="seconds since the listener's previous event", ylabel="events")
        ax.set_title("Inactivity gaps")
        ax.legend()
        plt.show()
        """,
    ),
    md(
        "skips-intro",
        """
        ### Skips

        The share of skipped plays per listener, and by position in the session: a model that
        reads event types can learn that a skip says "not this direction".
        """,
    ),
    code(
        "skips",
        """
        skipped = events[Columns.IS_SKIP].astype(bool)
        print(f"skip share: {skipped.mean():.1%} of {len(events):,} events")
        per_user = skipped.groupby(events[Columns.USER]).mean()
        by_position = skipped.groupby(events[Columns.POSITION].clip(upper=30)).mean()
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5), layout="constrained")
        left.hist(per_user, bins=np.linspace(0, 1, 21))
        left.set(xlabel="skip share", ylabel="listeners", title="Skip share per listener")
        right.plot(by_position.index, by_position.to_numpy(), marker=".")
        right.set(xlabel="position in session (30 = 30 or later)", ylabel="skip share")
        right.set_title("Skip share by position")
        right.set_ylim(bottom=0)
        plt.show()
        """,
    ),
    md(
        "popularity-intro",
        """
        ### Popularity

        Plays of each track (and artist) against its popularity rank, log-log. Music logs are
        heavy-tailed: a few tracks take a large share of plays, which is why a most-popular
        baseline is hard to beat on hit rate and why the report breaks metrics down by target
        popularity.
        """,
    ),
    code(
        "popularity",
        """
        fig, ax = plt.subplots(figsize=(7, 4))
        for column, what in ((Columns.TRACK, "tracks"), (Columns.ARTIST, "artists")):
            if column in events:
                counts = events[column].value_counts().to_numpy()
                ranks = np.arange(1, len(counts) + 1)
                ax.loglog(ranks, counts, label=f"{what} ({len(counts):,})")
        ax.set(xlabel="popularity rank", ylabel="plays", title="Rank-frequency curve")
        ax.legend()
        plt.show()
        plays = events[Columns.TRACK].value_counts()
        top = plays.head(max(1, len(plays) // 100)).sum() / len(events)
        print(f"the top 1% of tracks take {top:.1%} of plays")
        """,
    ),
    md(
        "users-intro",
        """
        ### Activity per listener

        Events per listener. Heavy listeners dominate a per-event average; the evaluation table
        keeps `user_id` so that results can also be averaged per listener.
        """,
    ),
    code(
        "events-per-user",
        """
        per_user_events = events.groupby(Columns.USER).size()
        print(per_user_events.describe().round(1).to_string())
        fig, ax = plt.subplots(figsize=(7, 3.5))
        upper = np.log10(per_user_events.max()) + 0.1
        ax.hist(per_user_events, bins=np.logspace(0, upper, 40))
        ax.set_xscale("log")
        ax.set(xlabel="events per listener", ylabel="listeners", title="Events per listener")
        plt.show()
        """,
    ),
]


EVALUATION: list[Cell] = [
    md(
        "title",
        """
        # Offline evaluation: a transformer against the baselines

        Train a small SASRec-style transformer (or load a checkpoint), rank every test target
        over the whole catalogue for it and for every baseline with
        `segue.evaluation.evaluate.evaluate`, then look past the summary: metrics by
        situation (history length, target popularity, position in session, after a skip,
        repeat or new), a paired bootstrap against the best baseline, and a few playlists.

        Set `CHECKPOINT` to a `best.pt` written by `scripts/train.py` to evaluate that model;
        the data is then prepared as that run prepared it (from the config stored inside).
        """,
    ),
    code(
        "parameters",
        """
        # Parameters (tests shrink them). CHECKPOINT = None trains a small model here.
        CHECKPOINT = None  # or e.g. "../outputs/2026-11-28/10-00-00/best.pt"
        N_USERS = 150
        N_EVENTS = 12_000
        N_ARTISTS = 40  # a small catalogue (16 tracks per artist) learnt in seconds
        SEED = 0
        MAX_LEN = 30
        D_MODEL = 64
        EPOCHS = 6
        K = 10
        N_RESAMPLES = 1000
        N_EXAMPLES = 3
        """,
    ),
    code(
        "imports",
        """
        %matplotlib inline
        import tempfile

        import pandas as pd
        from IPython.display import display

        import segue
        from segue.baselines import (
            ItemCooccurrence,
            MostPopular,
            PersonalPopularity,
            SessionKNN,
            Transitions,
        )
        from segue.data.settings import prepare_from_settings
        from segue.evaluation.bootstrap import paired_bootstrap
        from segue.evaluation.evaluate import evaluate
        from segue.evaluation.ranking import top_k
        from segue.evaluation.ranking_metrics import point_ndcg
        from segue.evaluation.report import breakdown, plot_breakdown, save_report
        from segue.evaluation.scoring import score_points
        from segue.io.checkpoint import load_checkpoint
        from segue.models import sasrec
        from segue.recipes import validator
        from segue.training.losses import loss_for
        from segue.training.trainer import TrainerConfig, fit
        """,
    ),
    md(
        "data-intro",
        """
        ## Data

        Each listener's last session is the test fold and the one before it validation; every
        non-skipped play after a session's first track is a prediction point, whose history is
        everything the listener played before it.
        """,
    ),
    code(
        "data",
        """
        if CHECKPOINT is None:
            log = segue.generate_listening_log(
                n_users=N_USERS, n_events=N_EVENTS, n_artists=N_ARTISTS, seed=SEED
            )
            data = segue.prepare_data(log, split="held_out_sessions", max_len=MAX_LEN)
        else:
            # The data settings stored in the checkpoint: plain data, read by segue's own readers.
            checkpoint = load_checkpoint(CHECKPOINT)
            data = prepare_from_settings(checkpoint.require_data_settings(CHECKPOINT))
        print(data.summary())
        print(
            f"\\n{data.vocab.n_tracks:,} tracks, {len(data.train):,} training windows, "
            f"{len(data.validation):,} validation and {len(data.test):,} test points"
        )
        """,
    ),
    md(
        "train-intro",
        """
        ## Train or load

        With `CHECKPOINT = None`: segue's default model (with the history prior: replays,
        plays, the listener's own track order and first-order transitions, mixed into the
        softmax; its window is this demo's `MAX_LEN`), the
        library's plain training loop (`segue.training.trainer.fit`),
        full softmax over the catalogue, validation NDCG@10 after every epoch
        (`segue.recipes.validator`, as `segue train` validates), the best epoch kept. The run
        folder is temporary.
        """,
    ),
    code(
        "train",
        """
        if CHECKPOINT is None:
            model = sasrec(
                data.vocab.n_tracks,
                d_model=D_MODEL,
                n_layers=1,
                max_len=MAX_LEN,
                # segue's default model (configs/model/segue.yaml): the history prior,
                # mixed into the softmax, with the plays and chain counts
                history_prior=True,
                prior_combine="mixture",
                prior_window=MAX_LEN,
                prior_plays=True,
                prior_chain=True,
                prior_chain_rule="strongest",
                prior_plays_outside_chain=True,
            )
            run = fit(
                model,
                data.train,
                loss_for("softmax", n_tracks=data.vocab.n_tracks),
                validator(data.validation, exclude_seen=False, ks=[10]),
                TrainerConfig(
                    epochs=EPOCHS,
                    batch_size=32,
                    lr=5e-3,
                    warmup_steps=10,
                    seed=SEED,
                    device="cpu",
                    progress=False,
                    out_dir=tempfile.mkdtemp(prefix="segue-notebook-"),
                ),
                vocab=data.vocab,
            )
            checkpoint = load_checkpoint(run.best_path)
            display(pd.DataFrame(run.history)[["epoch", "train_loss", "ndcg@10", "hr@10"]])
        transformer = checkpoint.build_model()
        print(transformer.config)
        """,
    ),
    md(
        "evaluate-intro",
        """
        ## Transformer against every baseline

        Same points, same full-catalogue ranking, pessimistic ties. Session-based baselines
        learn from training sessions, the others from whole listening histories. Read the
        numbers as a demonstration of the workflow, not as a result: the default settings
        train a tiny model for a few seconds on a tiny log.
        """,
    ),
    code(
        "evaluate",
        """
        by_user, by_session = data.training_sequences("user"), data.training_sequences("session")
        # Session-based methods learn from sessions, the others from whole listening histories.
        session_based = ("session_knn", "item_cooccurrence")
        unfitted = [
            MostPopular(),
            PersonalPopularity(),
            Transitions(),
            SessionKNN(),
            ItemCooccurrence(),
        ]
        baselines = {}
        for b in unfitted:
            sequences = by_session if b.name in session_based else by_user
            baselines[b.name] = b.fit(sequences, data.vocab.n_tracks)
        ks = sorted({K, 10, 20, 50})
        result = evaluate({"transformer": transformer, **baselines}, data, ks=ks)
        """,
    ),
    code(
        "summary",
        """
        metrics = [f"ndcg@{K}", f"hr@{K}", f"mrr@{K}", f"coverage@{K}"]
        extras = ["artist_diversity@10", "repeat_share@10", "points"]
        print(result.to_markdown(["model", *metrics, *extras]))
        """,
    ),
    md(
        "breakdowns-intro",
        """
        ## Where each model wins

        `segue.evaluation.report` cuts the per-point table into buckets; tick labels give the
        number of points of each bucket. `breakdown` gives the numbers behind each figure.
        """,
    ),
    code("breakdown-table", 'breakdown(result.points, "is_repeat", k=K)'),
    md(
        "history-intro",
        "Cold listeners (short histories) against heavy ones:",
    ),
    code("plot-history", 'plot_breakdown(result.points, "history_length", k=K)'),
    md(
        "popularity-intro",
        "Chart hits against the long tail; targets unseen in train are misses for every model:",
    ),
    code("plot-popularity", 'plot_breakdown(result.points, "target_popularity", k=K)'),
    md("position-intro", "Early in a session against deep into it:"),
    code("plot-position", 'plot_breakdown(result.points, "position", k=K)'),
    md("skip-intro", "Right after a skipped play against after a full play:"),
    code("plot-skip", 'plot_breakdown(result.points, "after_skip", k=K)'),
    md("repeat-intro", "Replays of a track already heard against tracks new to the listener:"),
    code("plot-repeat", 'plot_breakdown(result.points, "is_repeat", k=K)'),
    code(
        "save-report",
        """
        # The same figures as PNGs with a markdown index, e.g. for a pull request.
        index = save_report(result, tempfile.mkdtemp(prefix="segue-report-"), k=K)
        print(index, sorted(p.name for p in index.parent.iterdir()))
        """,
    ),
    md(
        "bootstrap-intro",
        """
        ## Is the difference real?

        A paired bootstrap of per-point NDCG@K between the transformer and the best baseline
        (by NDCG@K): resample the test points, recompute the mean difference. Points of one
        session are correlated, so read the interval as a lower bound on the uncertainty.
        """,
    ),
    code(
        "bootstrap",
        """
        ndcg_of = {
            name: point_ndcg(rows["rank"].to_numpy(), K)
            for name, rows in result.points.groupby("model", sort=False)
        }
        others = result.summary[result.summary["model"] != "transformer"]
        best = others.sort_values(f"ndcg@{K}", ascending=False)["model"].iloc[0]
        test = paired_bootstrap(ndcg_of["transformer"], ndcg_of[best], N_RESAMPLES, seed=SEED)
        means = {name: ndcg_of[name].mean() for name in ("transformer", best)}
        print(f"NDCG@{K}: transformer {means['transformer']:.4f}, {best} {means[best]:.4f}")
        print(
            f"difference {test.mean_diff:+.4f}, 95% CI [{test.low:+.4f}, {test.high:+.4f}], "
            f"p = {test.p_value:.3f} ({N_RESAMPLES} resamples)"
        )
        """,
    ),
    md(
        "examples-intro",
        """
        ## A few playlists

        For test points of different listeners: the last tracks played, then the
        transformer's top-K (`segue.evaluation.ranking.top_k` over its scores of the whole
        catalogue), with the track actually played next marked.
        """,
    ),
    code(
        "examples",
        """
        vocab = data.vocab


        def label(index):
            \"\"\"'Artist – Title' of a vocabulary index, or its track id without metadata.\"\"\"
            artist = vocab.artists[index - 1] if vocab.artists else None
            name = vocab.names[index - 1] if vocab.names else None
            return " – ".join(str(x) for x in (artist, name) if x) or vocab.track_ids[index - 1]


        points = result.points[result.points["model"] == "transformer"]
        chosen = points[points["history_length"] >= 5].drop_duplicates("user_id")
        queries = chosen["query"].to_numpy()[:N_EXAMPLES]
        listeners = chosen["user_id"].to_numpy()[:N_EXAMPLES]
        recommended = top_k(score_points(transformer, data.test, queries), K).indices
        for query, listener, tracks in zip(queries, listeners, recommended):
            target = int(data.test.targets[query])
            print(f"listener {listener}, last played:")
            for index in data.test.full_history(query)[-5:]:
                print(f"        {label(int(index))}")
            print("    recommended next:")
            for rank, index in enumerate(tracks, 1):
                mark = "   <- played next" if index == target else ""
                print(f"    {rank:>3}. {label(int(index))}{mark}")
            if target == 0:
                print("    (played next: a track unseen in train)")
            elif target not in tracks:
                print(f"    played next: {label(target)}")
            print()
        """,
    ),
]


def build(cells: list[Cell]) -> NotebookNode:
    """A notebook of ``cells`` with fixed ids, no outputs and the ``python3`` kernel."""
    notebook = new_notebook()
    for cell_id, kind, source in cells:
        text = textwrap.dedent(source).strip()
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = cell_id
        notebook.cells.append(cell)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


NOTEBOOKS: dict[str, list[Cell]] = {
    "01_sessions.ipynb": SESSIONS,
    "02_offline_evaluation.ipynb": EVALUATION,
}


def main(out_dir: Path = HERE) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nbformat.write(build(cells), out_dir / name)
        print(f"wrote {out_dir / name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
