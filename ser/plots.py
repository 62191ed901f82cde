"""Plotly figures for the app: probabilities, waveform and spectral features (all from `ser.audio.features`), timeline, confusion.

Long recordings are decimated before plotting (at most `MAX_COLUMNS` time columns) and their spectra are computed in
chunks, so a 10-minute file costs the browser and the server about as much as a 20-second one.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from ser.audio import features
from ser.audio.load import SAMPLE_RATE
from ser.inference import Timeline
from ser.audio.voice import VoiceTracks

MAX_COLUMNS = 2000  # time columns per plot: more than a screen shows, small enough to send quickly
CHUNK_COLUMNS = 150  # pooled columns per STFT chunk of a long recording (bounds the STFT's memory)
HEIGHT = 260
MARGIN = dict(l=60, r=20, t=40, b=45)
MEL_TICKS_HZ = (250, 500, 1000, 2000, 4000, 7000)
MFCC_RANGE_PERCENTILE = 99  # colour range of the MFCC plot, over c1...: c0 (overall level) is far larger and would wash them out
# Figures are built from plain dicts without plotly's per-property validation, which costs ~100 ms a figure
# (most of a request's budget); tests/test_app_api.py builds every figure with VALIDATE = True.
VALIDATE = False
AXIS_STYLE = dict(gridcolor="#e5e8ef", zerolinecolor="#c8ccd6", linecolor="#c8ccd6", automargin=True)
FONT = dict(family="Arial, sans-serif", size=12, color="#2a3f5f")
# one colour per emotion everywhere in the app (colour-blind-safe Okabe-Ito order, then greys)
EMOTION_COLORS = {
    "neutral": "#7f7f7f", "calm": "#56B4E9", "calm/neutral": "#56B4E9", "happy": "#E69F00", "sad": "#0072B2",
    "angry": "#D55E00", "fearful": "#CC79A7", "disgust": "#009E73", "surprised": "#F0E442", "boredom": "#999999",
}
FULL_SCALE = 1.0  # the waveform's fixed amplitude axis: loudness (the main cue to arousal) compares between clips
CLIP_COLORS = ("#0072B2", "#D55E00")  # the two clips compared in the calm-vs-neutral lesson


def _scale(colors: list[str]) -> list[list]:
    """Explicit [position, colour] pairs: plotly.js knows only a few colour scales by name."""
    return [[i / (len(colors) - 1), c] for i, c in enumerate(colors)]


SPECTRUM_SCALE = _scale(plotly.colors.sequential.Magma)
CONFUSION_SCALE = _scale(plotly.colors.sequential.Blues)
MFCC_SCALE = _scale(plotly.colors.diverging.RdBu[::-1])


def _axis(title: str, **kwargs) -> dict:
    return {**AXIS_STYLE, "title": dict(text=title), **kwargs}


def _figure(data: list[dict], title: str, height: int = HEIGHT, x: dict | None = None, y: dict | None = None, **layout) -> go.Figure:
    spec = dict(
        title=dict(text=title, x=0.01, font=dict(size=14)), height=height, margin=MARGIN, font=FONT,
        paper_bgcolor="white", plot_bgcolor="white", xaxis={**AXIS_STYLE, **(x or {})}, yaxis={**AXIS_STYLE, **(y or {})},
    )
    return go.Figure(dict(data=data, layout={**spec, **layout}), _validate=VALIDATE)


def _color(label: str) -> str:
    return EMOTION_COLORS.get(label, "#444444")


def percent(p: float) -> str:
    """A probability as a whole percentage, rounded half up as the page's label (gr.Label: Math.round) rounds it."""
    return f"{math.floor(float(p) * 100 + 0.5):.0f}%"


def probability_bars(labels: list[str], probs, title: str = "Probability of each emotion", axis: str = "probability (%)") -> go.Figure:
    """Horizontal bars, most likely on top, each with the same whole percentage as the label above them."""
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(probs, kind="stable")  # plotly draws the first bar at the bottom
    bar = dict(
        type="bar", orientation="h", x=(probs[order] * 100).round(2).tolist(), y=[labels[i] for i in order],
        marker=dict(color=[_color(labels[i]) for i in order]), text=[percent(probs[i]) for i in order],
        textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{text}<extra></extra>",
    )
    return _figure([bar], title, height=max(HEIGHT, 30 * len(labels) + 80),
                   x=_axis(axis, range=[0, 112]), y=dict(automargin=True))


def _time_axis(duration: float, title: str = "time (s)", **kwargs) -> dict:
    """Every time axis starts at 0 and ends with the recording."""
    return _axis(title, range=[0, max(duration, 1e-3)], **kwargs)


# --- waveform and spectra --------------------------------------------------------------------------------------------

def waveform(wave: np.ndarray) -> go.Figure:
    """Min/max envelope in at most `MAX_COLUMNS` bins (at this width it looks the same as every sample), on a fixed
    full-scale axis: a quiet clip looks quiet."""
    bins = min(MAX_COLUMNS, wave.size)
    edges = np.linspace(0, wave.size, bins + 1).astype(np.int64)
    lows = np.minimum.reduceat(wave, edges[:-1]).astype(np.float32)
    highs = np.maximum.reduceat(wave, edges[:-1]).astype(np.float32)
    times = ((edges[:-1] + edges[1:]) / 2 / SAMPLE_RATE).astype(np.float32)
    line = dict(width=0.8, color="#0072B2")
    traces = [
        dict(type="scatter", x=times, y=highs, mode="lines", line=line, hoverinfo="skip"),
        dict(type="scatter", x=times, y=lows, mode="lines", line=line, fill="tonexty", hovertemplate="%{x:.2f} s<extra></extra>"),
    ]
    return _figure(traces, "Waveform", x=_time_axis(wave.size / SAMPLE_RATE), showlegend=False,
                   y=_axis("amplitude (full scale = 1)", range=[-FULL_SCALE, FULL_SCALE]))


def _pool_factor(wave: np.ndarray) -> int:
    n_frames = 1 + wave.size // features.HOP_LENGTH
    return max(1, math.ceil(n_frames / MAX_COLUMNS))


def pooled_power(wave: np.ndarray, factor: int) -> np.ndarray:
    """Power spectrogram averaged over groups of `factor` frames, computed chunk by chunk (bounded memory)."""
    chunk_samples = CHUNK_COLUMNS * factor * features.HOP_LENGTH
    parts = []
    for first in range(0, wave.size, chunk_samples):
        chunk = wave[first:first + chunk_samples]
        # drop the centring frame past the chunk's end: the next chunk starts there
        power = features.power_spectrogram(chunk)[:, : max(1, math.ceil(chunk.size / features.HOP_LENGTH))]
        groups = np.arange(0, power.shape[1], factor)
        parts.append(np.add.reduceat(power, groups, axis=1) / np.diff(np.append(groups, power.shape[1])))
    return np.concatenate(parts, axis=1).astype(np.float32)


def spectra(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(times, spectrogram dB, log-mel dB, MFCC), each with at most `MAX_COLUMNS` columns."""
    factor = _pool_factor(wave)
    if factor == 1:
        power = features.power_spectrogram(wave)
        spec_db = features.power_db(power)  # = features.spectrogram_db(wave), without a second STFT
        times = features.frame_times(power.shape[1])
    else:
        power = pooled_power(wave, factor)
        spec_db = features.power_db(power)  # the dB transform of features.spectrogram_db, after pooling
        times = (np.arange(power.shape[1]) * factor + (factor - 1) / 2) / features.FRAMES_PER_SECOND
    mel_db = features.log_mel(wave, power=power)
    coeffs = features.mfcc(wave, mel_db=mel_db)
    return times.astype(np.float32), spec_db, mel_db, coeffs


def _heatmap(z: np.ndarray, times: np.ndarray, y, title: str, y_axis: dict, unit: str, colorscale: list, dtype=np.int8,
             duration: float | None = None, **trace) -> go.Figure:
    # whole-dB integers: invisible in the picture, and a quarter of float32's bytes to send
    info = np.iinfo(dtype)
    heat = dict(
        type="heatmap", z=np.clip(np.round(z), info.min, info.max).astype(dtype), x=times, y=y, colorscale=colorscale,
        colorbar=dict(title=dict(text=unit), thickness=12), **trace,
    )
    end = duration if duration is not None else float(times[-1]) if len(times) else 1.0
    return _figure([heat], title, x=_time_axis(end), y=y_axis)


def spectrogram_figure(times: np.ndarray, spec_db: np.ndarray, duration: float | None = None) -> go.Figure:
    return _heatmap(spec_db, times, features.fft_frequencies(), "Spectrogram", _axis("frequency (Hz)"), "dB", SPECTRUM_SCALE,
                    duration=duration, hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z} dB<extra></extra>")


def mel_figure(times: np.ndarray, mel_db: np.ndarray, title: str = "Mel spectrogram", duration: float | None = None) -> go.Figure:
    """Bands drawn evenly spaced (the mel scale, as the models see it), labelled with their centre frequency in Hz."""
    centres = features.mel_frequencies(mel_db.shape[0])
    ticks = np.interp(MEL_TICKS_HZ, centres, np.arange(centres.size)).round(2).tolist()  # where each round frequency falls
    y_axis = _axis("frequency (Hz, mel scale)", tickvals=ticks, ticktext=[f"{hz:g}" for hz in MEL_TICKS_HZ])
    return _heatmap(mel_db, times, np.arange(mel_db.shape[0], dtype=np.int16), title, y_axis, "dB", SPECTRUM_SCALE,
                    duration=duration, hovertemplate="%{x:.2f} s, band %{y}: %{z} dB<extra></extra>")


MFCC_TITLE = "Timbre over time (MFCCs)"


def mfcc_figure(times: np.ndarray, coeffs: np.ndarray, duration: float | None = None) -> go.Figure:
    """Coefficients 1 and up: the first (c0) is the overall level, already in the waveform, and would wash out the rest."""
    shape = coeffs[1:] if coeffs.shape[0] > 1 else coeffs
    limit = max(1.0, float(np.percentile(np.abs(shape), MFCC_RANGE_PERCENTILE)))
    first = coeffs.shape[0] - shape.shape[0]
    return _heatmap(shape, times, np.arange(first, coeffs.shape[0], dtype=np.int16), MFCC_TITLE,
                    _axis("coarse shape → fine detail"), "value", MFCC_SCALE, dtype=np.int16, duration=duration,
                    zmin=-limit, zmax=limit, zmid=0, hovertemplate="%{x:.2f} s, coefficient %{y}: %{z}<extra></extra>")


def feature_figures(wave: np.ndarray) -> tuple[go.Figure, go.Figure, go.Figure, go.Figure]:
    """Waveform, spectrogram, mel spectrogram and MFCC figures of one recording."""
    times, spec_db, mel_db, coeffs = spectra(wave)
    duration = wave.size / SAMPLE_RATE
    return (waveform(wave), spectrogram_figure(times, spec_db, duration), mel_figure(times, mel_db, duration=duration),
            mfcc_figure(times, coeffs, duration))


# --- long recordings -------------------------------------------------------------------------------------------------

BAND_MIN_OPACITY = 0.15  # a window at chance level stays visible, so the band shows where speech was


def band_opacity(top: np.ndarray, n_labels: int) -> np.ndarray:
    """How strongly a window is coloured: from BAND_MIN_OPACITY at chance (1 / labels) to 1 at certainty."""
    chance = 1.0 / max(n_labels, 1)
    sure = np.clip((np.asarray(top, dtype=np.float64) - chance) / (1.0 - chance), 0.0, 1.0)
    return BAND_MIN_OPACITY + (1.0 - BAND_MIN_OPACITY) * sure


def band_edges(tl: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """Where each window's stripe starts and ends: windows overlap, so each owns the stretch nearer its centre than its
    neighbours', never beyond its own start and end (silence between stretches of speech stays blank)."""
    centres = np.asarray(tl.times, dtype=np.float64)
    mids = (centres[1:] + centres[:-1]) / 2
    left = np.maximum(tl.starts, np.concatenate([[-np.inf], mids])) if len(centres) else centres
    right = np.minimum(tl.ends, np.concatenate([mids, [np.inf]])) if len(centres) else centres
    return left, np.maximum(right, left)


def _band_traces(tl: Timeline, yaxis: str = "y", showlegend: bool = True) -> list[dict]:
    """One bar trace per emotion that tops a window: a stripe per window, its opacity the model's confidence, hatched
    where the window is unlike every clip the model learned from."""
    top = tl.probs.argmax(axis=1) if len(tl.probs) else np.zeros(0, dtype=int)
    best = tl.probs[np.arange(len(top)), top] if len(top) else np.zeros(0)
    left, right = band_edges(tl)
    opacity = band_opacity(best, len(tl.labels))
    far = np.zeros(len(top), dtype=bool) if tl.far is None else np.asarray(tl.far, dtype=bool)
    traces = []
    for i, label in enumerate(tl.labels):
        here = np.flatnonzero(top == i)
        if not len(here):
            continue
        traces.append(dict(
            type="bar", x=((left[here] + right[here]) / 2).astype(np.float32), width=(right[here] - left[here]).astype(np.float32),
            y=np.ones(len(here), dtype=np.float32), yaxis=yaxis, name=label, legendgroup=label, showlegend=showlegend,
            marker=dict(color=_color(label), opacity=opacity[here].round(3).tolist(), line=dict(width=0),
                        pattern=dict(shape=["/" if f else "" for f in far[here]], fgcolor="#333333", solidity=0.15)),
            customdata=np.stack([left[here], right[here], best[here] * 100], axis=1).round(1).tolist(),
            hovertemplate=f"{label}: " + "%{customdata[2]:.0f}% at %{customdata[0]:.1f}-%{customdata[1]:.1f} s<extra></extra>"))
    return traces


def _line_traces(tl: Timeline) -> list[dict]:
    mode = "lines+markers" if len(tl.times) < 60 else "lines"
    return [dict(type="scatter", x=tl.times.astype(np.float32), y=(tl.probs[:, i] * 100).astype(np.float32), mode=mode, name=label,
                 legendgroup=label, line=dict(color=_color(label), width=2), marker=dict(size=5),
                 hovertemplate=f"{label}: " + "%{y:.0f}% at %{x:.1f} s<extra></extra>")
            for i, label in enumerate(tl.labels)]


BAND_TITLE = "Top emotion over time (paler = less sure)"


def timeline_figure(tl: Timeline, lines: bool = False) -> go.Figure:
    """The top emotion per window as a coloured band; with `lines`, every emotion's probability per window below it
    (plotted at the window's centre)."""
    end = max(tl.duration, float(tl.ends.max()) if len(tl.ends) else 1.0)
    band_axis = dict(visible=False, range=[0, 1], fixedrange=True)
    if not lines:
        return _figure(_band_traces(tl), BAND_TITLE, height=200, x=_time_axis(end), y=band_axis, barmode="overlay", bargap=0,
                       legend=dict(orientation="h", y=-0.5), margin={**MARGIN, "l": 20})  # no y-axis to make room for
    return _figure([*_band_traces(tl, "y2", showlegend=False), *_line_traces(tl)], BAND_TITLE + " and each emotion's probability",
                   height=420, x=_time_axis(end, "time (s, window centre)"), y=_axis("probability (%)", range=[0, 100], domain=[0, 0.72]),
                   yaxis2={**band_axis, "domain": [0.8, 1.0]}, barmode="overlay", bargap=0, legend=dict(orientation="h", y=-0.2))


# --- the calm-vs-neutral lesson --------------------------------------------------------------------------------------

def confusion_figure(scores: dict, title: str) -> go.Figure:
    """Row-normalised confusion matrix (true class down, predicted across), counts in the hover."""
    labels = list(scores["labels"])
    counts = np.asarray(scores["confusion"], dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    percent = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) * 100
    heat = dict(
        type="heatmap", z=percent.round(1).tolist(), x=labels, y=labels, colorscale=CONFUSION_SCALE, zmin=0, zmax=100,
        customdata=counts.astype(int).tolist(), text=percent.round().astype(int).tolist(), texttemplate="%{text}",
        colorbar=dict(title=dict(text="% of row"), thickness=12),
        hovertemplate="true %{y}, predicted %{x}: %{customdata} clips (%{z:.1f}%)<extra></extra>",
    )
    return _figure([heat], title, height=460, x=_axis("predicted"), y=_axis("true", autorange="reversed"))


def pitch_energy_figure(clips: dict[str, VoiceTracks]) -> go.Figure:
    """Pitch contour (top) and frame energy in dB (bottom) of a few clips, overlaid for comparison."""
    traces = []
    end = max([float(t.times[-1]) for t in clips.values() if len(t.times)] or [1.0])
    for (name, tracks), color in zip(clips.items(), CLIP_COLORS):
        traces.append(dict(type="scatter", x=tracks.times, y=tracks.pitch_hz, mode="lines", name=name, legendgroup=name,
                           line=dict(color=color, width=2), hovertemplate=f"{name}: " + "%{y:.0f} Hz at %{x:.2f} s<extra></extra>"))
        traces.append(dict(type="scatter", x=tracks.times, y=tracks.energy_db, mode="lines",
                           name=name, legendgroup=name, showlegend=False, line=dict(color=color, width=1.5), xaxis="x", yaxis="y2",
                           hovertemplate=f"{name}: " + "%{y:.0f} dBFS at %{x:.2f} s<extra></extra>"))
    return _figure(traces, "Pitch (top) and energy (bottom)", height=460, x=_time_axis(end, anchor="y2"),
                   y=_axis("pitch (Hz)", domain=[0.55, 1.0]), yaxis2={**_axis("energy (dBFS)", range=[-70, 0]), "domain": [0.0, 0.45]},
                   legend=dict(orientation="h", y=-0.16, x=0.5, xanchor="center"), margin={**MARGIN, "b": 80})
