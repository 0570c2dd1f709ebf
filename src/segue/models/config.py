"""The model's hyperparameters as one dataclass, stored inside every checkpoint.

Only JSON-able values live here (ints, floats, strings, bools, None), so a checkpoint that holds
``config.to_dict()`` loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from segue.checks import check_field_types, check_integer, check_number
from segue.columns import EventTypes
from segue.data.features import N_GAP_BUCKETS
from segue.export.prior_numpy import CHAIN_RULES, COMBINES
from segue.models.blocks import BLOCKS

Positions = Literal["learned", "rotary", "none"]
Objective = Literal["causal", "masked"]


@dataclass
class ModelConfig:
    """Hyperparameters of :class:`segue.models.transformer.TrackTransformer`.

    Args:
        n_tracks: Catalogue size; track indices are 1..n_tracks, 0 is padding and n_tracks + 1 is
            the [MASK] token of the masked objective.
        n_artists: Artist vocabulary size (indices 1..n_artists); 0 turns the artist input off.
        use_event_types: Add an embedding of the event type (play, skip, like, ...).
        use_gap_buckets: Add an embedding of the time gap since the previous event.
        d_model: Width of the residual stream and of every embedding.
        n_layers: Number of transformer blocks.
        n_heads: Attention heads; must divide d_model.
        d_ff: Hidden width of the feed-forward layer; None means d_model, as in SASRec (the
            4 * d_model of language models buys little on sparse interaction data and doubles
            the cost of the block on CPU).
        max_len: Longest history the model sees; also the size of the learned position table.
        dropout: Dropout on the embeddings and on every residual branch.
        attn_dropout: Dropout on the attention weights. Off by default: on CPU any value above
            zero sends ``scaled_dot_product_attention`` to its unfused kernel and about doubles
            the training step (measured 0.50 s -> 0.88 s at batch 128 x 200), for a regulariser
            that ``dropout`` already provides.
        positions: "learned" (a table, SASRec/BERT4Rec), "rotary" (RoPE on queries and keys) or
            "none". Positions count from each sequence's first real token.
        objective: "causal" (SASRec: each position sees only the past) or "masked" (BERT4Rec:
            bidirectional attention, [MASK] tokens to predict).
        block: The transformer block, a name in :data:`segue.models.blocks.BLOCKS`: "sasrec"
            (softmax attention and a feed-forward layer) or "hstu" (HSTU's pointwise attention
            with relative position and time bias, :mod:`segue.models.hstu`).
        n_event_types: Size of the event-type vocabulary, stored so that old checkpoints keep
            loading if :class:`segue.columns.EventTypes` grows.
        n_gap_buckets: Number of time-gap buckets, stored for the same reason.
        rotary_base: Base of the rotary frequencies.
        seed: Seed of the deterministic weight initialisation.
        history_prior: Add the history prior to the scores (:mod:`segue.models.history_prior`):
            learned weights on the listener's recent replays, its own track order and a
            first-order transition table counted from the training log. Causal objective only.
        prior_window: Latest events the prior's replay and sequel features read.
        prior_successors: Successors per track kept in the prior's transition table.
        prior_decay: Per-event decay of the prior's replay feature, in (0, 1].
        prior_plays: Add the prior's ``plays`` feature: undecayed plays of each track in the
            last ``prior_window`` events (long-run favourites a decayed count forgets). False
            keeps the three-feature prior of checkpoints written before it existed.
        prior_chain: Add the prior's ``chain`` feature: transition counts again, at queries
            whose own last step is in the transition table (playing through an album or a
            playlist). False, like ``prior_plays``, for earlier checkpoints.
        prior_chain_rule: Which queries the ``chain`` feature counts as inside a chain:
            ``"known"`` (earlier checkpoints), those whose last step ``x_{t-1} -> x_t`` is in
            the transition table at all; ``"strongest"``, those where ``x_t`` is
            ``x_{t-1}``'s most counted successor (an album's order, not a favourite heard once
            after another track).
        prior_plays_outside_chain: Count the ``plays`` feature only at queries outside a chain
            (by ``prior_chain_rule``): inside one, the listener's favourites are what outranks
            the album's next track. Needs ``prior_plays`` and ``prior_chain``; False (earlier
            checkpoints) counts them everywhere.
        prior_combine: How the prior meets the transformer's scores: ``"sum"`` (earlier
            checkpoints) adds gated log-counts to ``h . e_j`` (a product of experts);
            ``"mixture"`` mixes the transformer's softmax with each feature's counts, so a
            track the listener replays can rank high even where ``h . e_j`` is low
            (:mod:`segue.models.history_prior`).
        prior_album: Add the prior's ``album`` feature: the other tracks of the current
            track's album (same artist and album name in the vocabulary), the candidates of
            an album played through, rare albums included, which a transition table counted
            from few play-throughs misses or ties; with it ``album_chain``, the same again at
            queries whose last step stayed on the album. False for earlier checkpoints; on a
            log without album names both features are empty.
        prior_album_tracks: Album-mates kept per track (the most played ones).
        prior_album_fresh: An album-mate among the last ``prior_album_fresh`` events is left
            out (the tracks of the album already heard in this play-through); 0 keeps all.
        prior_artist: Add the prior's ``artist`` feature: the current track's artist's other
            tracks, each at its share of their plays (a listener who stays with an artist
            picks by the artist's own popularity). False for earlier checkpoints; on a log
            without artist names it is empty.
        prior_artist_tracks: Artist-mates kept per track (the most played ones).
        prior_album_entry: Add the prior's ``album_entry`` feature: at a track entered from
            outside its album, the transition counts of its successors on the album, times how
            often plays entered there went on to the album (an album's opening track). Needs
            ``prior_album``; False for earlier checkpoints.
        prior_album_run: Add the prior's ``album_run`` feature: where the last step stayed on
            the album, the transition counts of the current track's successors on the album
            (the album's order inside a play-through). Needs ``prior_album``; False for
            earlier checkpoints.
        blend_weight: The transition blend's share ``w`` of the next-track mixture
            (:mod:`segue.models.transition_blend`), in [0, 1); 0 (the default) is no blend. Set
            after training, chosen on validation (``blend.weights`` in ``configs/train.yaml``),
            not learned. Causal objective only (it reads the last track).
        blend_successors: Successors kept per track in the blend's transition table.
        blend_cooccurrence: The share of the blend's co-occurrence memory in the mixture, in
            [0, 1), ``blend_weight + blend_cooccurrence < 1``; 0 (the default) is none. Like
            ``blend_weight``, chosen on validation after training
            (``blend.cooccurrence_weights``).
        blend_neighbours: Co-occurring tracks kept per track in that memory's table.
        blend_history: Last history tracks whose neighbours the memory sums.
        blend_decay: Weight ``decay ** age`` of a history track in that sum, in (0, 1].
    """

    n_tracks: int
    n_artists: int = 0
    use_event_types: bool = False
    use_gap_buckets: bool = False
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    d_ff: int | None = None
    max_len: int = 200
    dropout: float = 0.2
    attn_dropout: float = 0.0
    positions: Positions = "learned"
    objective: Objective = "causal"
    block: str = "sasrec"
    n_event_types: int = len(EventTypes.VOCAB)
    n_gap_buckets: int = N_GAP_BUCKETS
    rotary_base: float = 10000.0
    seed: int = 0
    history_prior: bool = False
    prior_window: int = 50
    prior_successors: int = 32
    prior_decay: float = 0.9
    prior_plays: bool = False
    prior_chain: bool = False
    prior_chain_rule: str = "known"
    prior_plays_outside_chain: bool = False
    prior_combine: str = "sum"
    prior_album: bool = False
    prior_album_tracks: int = 16
    prior_album_fresh: int = 0
    prior_artist: bool = False
    prior_artist_tracks: int = 16
    prior_album_entry: bool = False
    prior_album_run: bool = False
    blend_weight: float = 0.0
    blend_successors: int = 32
    blend_cooccurrence: float = 0.0
    blend_neighbours: int = 64
    blend_history: int = 20
    blend_decay: float = 0.8

    def __post_init__(self) -> None:
        """Refuse any value a model cannot be built from, naming the field and what is allowed.

        Runs before anything is allocated, so a bad config costs nothing.
        """
        check_field_types(self)
        check_integer("n_tracks", self.n_tracks, minimum=1)
        check_integer("n_artists", self.n_artists, minimum=0)
        for name in ("d_model", "n_layers", "n_heads", "max_len", "n_event_types", "n_gap_buckets"):
            check_integer(name, getattr(self, name), minimum=1)
        if self.d_ff is not None:
            check_integer("d_ff", self.d_ff, minimum=1)
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide d_model={self.d_model}")
        if self.objective == "masked" and self.max_len < 2:
            raise ValueError(f"max_len must be >= 2 for the masked objective, got {self.max_len}")
        if self.positions == "rotary" and self.head_dim % 2:
            raise ValueError(f"rotary positions need an even head size, got {self.head_dim}")
        for name in ("dropout", "attn_dropout"):
            check_number(name, getattr(self, name), low=0.0, high=1.0, high_open=True)
        check_number("rotary_base", self.rotary_base, low=1.0, low_open=True)
        if self.block not in BLOCKS:
            raise ValueError(f"unknown block {self.block!r}; choose from {sorted(BLOCKS)}")
        check_integer("prior_window", self.prior_window, minimum=1)
        check_integer("prior_successors", self.prior_successors, minimum=1)
        check_number("prior_decay", self.prior_decay, low=0.0, high=1.0, low_open=True)
        check_integer("prior_album_tracks", self.prior_album_tracks, minimum=1)
        check_integer("prior_album_fresh", self.prior_album_fresh, minimum=0)
        check_integer("prior_artist_tracks", self.prior_artist_tracks, minimum=1)
        for name in ("prior_album_entry", "prior_album_run"):
            if getattr(self, name) and not self.prior_album:
                raise ValueError(f"{name} needs prior_album")
        if self.prior_plays_outside_chain and not (self.prior_plays and self.prior_chain):
            raise ValueError("prior_plays_outside_chain needs prior_plays and prior_chain")
        if self.prior_chain_rule not in CHAIN_RULES:
            raise ValueError(
                f"prior_chain_rule must be one of {list(CHAIN_RULES)}, "
                f"got {self.prior_chain_rule!r}"
            )
        if self.prior_combine not in COMBINES:
            raise ValueError(
                f"prior_combine must be one of {list(COMBINES)}, got {self.prior_combine!r}"
            )
        if self.history_prior and self.objective != "causal":
            raise ValueError("history_prior needs the causal objective (it reads the last track)")
        check_number("blend_weight", self.blend_weight, low=0.0, high=1.0, high_open=True)
        check_integer("blend_successors", self.blend_successors, minimum=1)
        self._check_cooccurrence()
        if self.has_blend and self.objective != "causal":
            raise ValueError(
                "blend_weight > 0 needs the causal objective (it reads the last track)"
            )

    def _check_cooccurrence(self) -> None:
        """The blend's co-occurrence memory: a share that leaves the softmax some mass."""
        check_number(
            "blend_cooccurrence", self.blend_cooccurrence, low=0.0, high=1.0, high_open=True
        )
        check_integer("blend_neighbours", self.blend_neighbours, minimum=1)
        check_integer("blend_history", self.blend_history, minimum=1)
        check_number("blend_decay", self.blend_decay, low=0.0, high=1.0, low_open=True)
        if self.blend_weight + self.blend_cooccurrence >= 1.0:
            raise ValueError(
                "blend_weight + blend_cooccurrence must be < 1 (the softmax keeps the rest), "
                f"got {self.blend_weight:g} + {self.blend_cooccurrence:g}"
            )

    @property
    def has_blend(self) -> bool:
        """Whether the model mixes a memory into its softmax after training (a transition
        table, a co-occurrence table or both: :mod:`segue.models.transition_blend`)."""
        return self.blend_weight > 0 or self.blend_cooccurrence > 0

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def ff_dim(self) -> int:
        """The feed-forward width with the None default resolved."""
        return self.d_ff if self.d_ff is not None else self.d_model

    @property
    def mask_token(self) -> int:
        """Index of the [MASK] token: the row after the last track."""
        return self.n_tracks + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, safe to store in a ``weights_only`` checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped.

        >>> ModelConfig.from_dict(ModelConfig(n_tracks=10).to_dict()) == ModelConfig(n_tracks=10)
        True
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"a ModelConfig must be a mapping, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(values) - known))
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {unknown}")
        return cls(**values)
