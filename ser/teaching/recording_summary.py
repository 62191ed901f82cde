"""A long recording in one line: how long each emotion dominated the speech, and whether one emotion dominated at all.

The mean of the window probabilities is a poor headline: a recording that is angry for half its length and sad for the
other half averages to two middling bars, and eight emotions each present a little average to "neutral 15%". Instead,
every instant of speech takes the emotion its windows (averaged where they overlap) rate highest, and the recording
is summed up as the share of the speaking time each emotion held.

    shares = speaking_time_shares(tl)     # a ser.inference.Timeline
    shares.mixed, shares.top, shares.seconds
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ser.inference import Timeline

STEP_S = 0.1  # resolution of the time grid the windows are read on
DOMINANT_SHARE = 2 / 3  # below this share of the speaking time for the top emotion, the recording is called mixed


@dataclass(frozen=True)
class SpeakingTimeShares:
    labels: list[str]
    seconds: np.ndarray  # speaking time each label dominated, in the order of `labels`
    speech_s: float

    @property
    def shares(self) -> dict[str, float]:
        """Label -> share of the speaking time, every label (0 for those that never dominated)."""
        total = max(self.speech_s, 1e-9)
        return {label: float(s / total) for label, s in zip(self.labels, self.seconds)}

    @property
    def ranked(self) -> list[tuple[str, float]]:
        """(label, share) of the labels that dominated somewhere, largest first."""
        return sorted(((k, v) for k, v in self.shares.items() if v > 0), key=lambda kv: -kv[1])

    @property
    def top(self) -> tuple[str, float]:
        return self.ranked[0] if self.ranked else ("", 0.0)

    @property
    def mixed(self) -> bool:
        return self.top[1] < DOMINANT_SHARE


def speaking_time_shares(tl: Timeline, step_s: float = STEP_S) -> SpeakingTimeShares:
    """Seconds of speech each emotion dominated: the timeline's windows cover exactly its voiced parts, so each grid
    point inside some window is speech, labelled by the argmax of the mean probabilities of the windows covering it."""
    if len(tl.probs) == 0:
        return SpeakingTimeShares(list(tl.labels), np.zeros(len(tl.labels)), 0.0)
    grid = np.arange(float(tl.starts.min()), float(tl.ends.max()), step_s) + step_s / 2
    covers = (tl.starts[:, None] <= grid[None, :]) & (grid[None, :] < tl.ends[:, None])  # (windows, points)
    count = covers.sum(axis=0)
    spoken = count > 0
    mean = (covers[:, spoken].T.astype(np.float64) @ tl.probs) / count[spoken, None]
    dominant = mean.argmax(axis=1)
    seconds = np.bincount(dominant, minlength=len(tl.labels)).astype(np.float64) * step_s
    return SpeakingTimeShares(list(tl.labels), seconds, float(spoken.sum() * step_s))
