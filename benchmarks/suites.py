"""The benchmark suites: which models, peers and sizes ``benchmarks.run`` measures.

``full`` is the published table (hours on 2 CPU cores; every finished part is reused when run
again). ``quick`` runs every part with tiny epoch counts and sizes, to check the harness end to end
in minutes; its figures mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The peers learn their item set from the exported training table and cannot rank a track it
# lacks, so segue and the peers are compared on the training catalogue (data.catalogue=train):
# the tracks first heard after train (the music configs' "log") would be segue's alone.
COMMON = ["trainer.progress=false", "trainer.num_threads=1", "data.catalogue=train"]

# The peers' configuration, from the benchmark issue: SASRec with d=64, 2 blocks, 2 heads,
# max_len 200, batch 128, lr 1e-3, dropout 0.2, full softmax, one thread.
PEER_MODEL = {
    "d_model": 64,
    "n_blocks": 2,
    "n_heads": 2,
    "max_len": 200,
    "dropout": 0.2,
    "batch_size": 128,
    "lr": 0.001,
    "seed": 0,
    "threads": 1,
    "k": 100,
}
SEGUE_AT_PEER_CONFIG = [
    "model=sasrec",
    "loss=softmax",  # replaced by peer_loss() where the peers use a sampled softmax
    "model.d_model=64",
    "model.n_layers=2",
    "model.n_heads=2",
    "model.max_len=200",
    "model.dropout=0.2",
    "optim.lr=0.001",
    "trainer.batch_size=128",
]


@dataclass
class Protocol:
    """One public protocol: segue's variants (name -> Hydra overrides) and peer epochs."""

    data: str
    variants: dict[str, list[str]]
    peer_epochs: dict[str, int]
    speed_epochs: int = 3
    # None: full softmax, as the peer configuration. 30Music's peers use a sampled
    # softmax, as segue's 30Music default does: a full softmax over 49k tracks at batch 128 x 200
    # positions is a 5 GB logit tensor per step and tens of minutes per epoch on 2 cores.
    peer_negatives: int | None = None
    # Peers left out of this protocol, with the reason, printed in the report's table.
    peers_not_run: dict[str, str] = field(default_factory=dict)


def peer_loss(n_negatives: int | None) -> list[str]:
    """segue's loss overrides matching the peers': full softmax, or sampled with N negatives."""
    if n_negatives is None:
        return ["loss=softmax"]
    return ["loss=sampled_softmax", f"loss.n_negatives={n_negatives}"]


def segue_at_peer_config(protocol: Protocol) -> list[str]:
    """Overrides that train segue as the peers are trained on ``protocol``."""
    model = [o for o in SEGUE_AT_PEER_CONFIG if not o.startswith("loss=")]
    return [f"data={protocol.data}", *model, *peer_loss(protocol.peer_negatives)]


@dataclass
class Suite:
    protocols: dict[str, Protocol]
    scaling_quick: bool = False
    inference_args: list[str] = field(default_factory=list)
    max_points: int | None = None


FULL = Suite(
    protocols={
        "ml100k": Protocol(
            data="movielens_100k",
            variants={
                "default": [],
                "bert4rec": ["model=bert4rec"],
                # the experiment's window-masked softmax would replace the sampled loss
                "sampled": ["loss=sampled_softmax"],
            },
            peer_epochs={"rectools": 60, "replay": 90},
        ),
        "30music": Protocol(
            data="30music",
            variants={
                "default": [],
                "bert4rec": ["model=bert4rec", "trainer.epochs=60", "trainer.patience=10"],
                # segue's default here is already the sampled softmax; a full softmax over the
                # 49k tracks ran at 260 s/epoch on the shared 2-core machine (validation NDCG@10
                # 0.0075 after one epoch) and did not fit the published run.
            },
            peer_epochs={"replay": 20},
            speed_epochs=1,
            peer_negatives=4096,
            peers_not_run={
                "rectools": "its sampled softmax draws 4,096 negatives per position and took "
                "440 s for one epoch here (RePlay: 40 s; 2.5 h for 20 epochs), so it is not run; "
                "add it to peer_epochs to run it"
            },
        ),
    },
    inference_args=["--threads", "1"],
)

QUICK = Suite(
    protocols={
        name: Protocol(
            data=p.data,
            variants={
                v: [*o, "trainer.epochs=1", "trainer.patience=1"] for v, o in p.variants.items()
            },
            peer_epochs={peer: 1 for peer in p.peer_epochs},
            speed_epochs=1,
            peer_negatives=p.peer_negatives,
            peers_not_run=p.peers_not_run,
        )
        for name, p in FULL.protocols.items()
    },
    scaling_quick=True,
    inference_args=["--threads", "1", "--tracks", "10000", "--repeats", "20"],
    max_points=300,
)

SUITES = {"full": FULL, "quick": QUICK}
