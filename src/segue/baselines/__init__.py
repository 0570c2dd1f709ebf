"""Non-neural baselines, all with ``fit(sequences, n_tracks)`` and ``score(histories)``."""

from segue.baselines.ease import EASE
from segue.baselines.item_cooccurrence import ItemCooccurrence
from segue.baselines.most_popular import MostPopular
from segue.baselines.personal_popularity import PersonalPopularity
from segue.baselines.protocol import Baseline
from segue.baselines.pure_svd import PureSVD
from segue.baselines.session_knn import SessionKNN
from segue.baselines.transitions import Transitions

__all__ = [
    "EASE",
    "Baseline",
    "ItemCooccurrence",
    "MostPopular",
    "PersonalPopularity",
    "PureSVD",
    "SessionKNN",
    "Transitions",
]
